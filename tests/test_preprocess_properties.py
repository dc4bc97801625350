"""Property tests (hypothesis) for the pure parts of preprocessing: resize, enlarge, stats, split."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triple_dots.images import grow_hole, hole_ratio
from triple_dots.preprocess import assign_splits, band_counts, dilate_by_face, enlarge_mask, scale_holes
from triple_dots.preprocess.demo_data import ellipse_hole
from triple_dots.square_fit import SquareFit

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def masks(draw, min_side: int = 8, max_side: int = 80) -> np.ndarray:
    """(H, W) uint8 {0, 255} masks made of random rectangles and ellipses (possibly empty)."""
    h = draw(st.integers(min_side, max_side))
    w = draw(st.integers(min_side, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = np.zeros((h, w), np.uint8)
    for _ in range(draw(st.integers(0, 4))):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = rng.integers(x0, w + 1), rng.integers(y0, h + 1)
        mask[y0:y1, x0:x1] = 255
    if draw(st.booleans()):
        mask |= ellipse_hole(h, w, ratio=draw(st.floats(0.02, 0.5)))
    return mask


# --- resize ----------------------------------------------------------------------------
@SETTINGS
@given(mask=masks(min_side=16, max_side=120), size=st.integers(8, 96), mode=st.sampled_from(["crop", "pad"]))
def test_resized_masks_stay_binary_and_keep_their_ratio(mask: np.ndarray, size: int, mode: str) -> None:
    h, w = mask.shape
    fit = SquareFit(w, h, size, mode)  # type: ignore[arg-type]
    out = fit.apply_mask(mask)
    assert out.shape == (size, size) and out.dtype == np.uint8
    assert set(np.unique(out).tolist()) <= {0, 255}
    # the hole ratio of the square that was cut out (crop) or padded (pad) is preserved up to the
    # nearest-neighbour error: at most about one output pixel per output pixel of hole outline
    x0, y0 = fit.offset
    square = np.zeros((fit.side, fit.side), bool)
    src = mask[max(y0, 0) : y0 + fit.side, max(x0, 0) : x0 + fit.side] > 0
    square[max(-y0, 0) : max(-y0, 0) + src.shape[0], max(-x0, 0) : max(-x0, 0) + src.shape[1]] = src
    expected = hole_ratio(square)
    outline = np.count_nonzero(np.diff(square, axis=0)) + np.count_nonzero(np.diff(square, axis=1))
    outline += 2 * (square[0].sum() + square[-1].sum() + square[:, 0].sum() + square[:, -1].sum())
    tolerance = 2 * (outline * fit.scale + 8) / size**2
    assert abs(hole_ratio(out) - expected) <= tolerance


@SETTINGS
@given(h=st.integers(4, 60), w=st.integers(4, 60), size=st.integers(4, 64), mode=st.sampled_from(["crop", "pad"]))
def test_resize_image_shape_range_and_coords(h: int, w: int, size: int, mode: str) -> None:
    rng = np.random.default_rng(h * 100 + w)
    img = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
    fit = SquareFit(w, h, size, mode)  # type: ignore[arg-type]
    out = fit.apply_image(img)
    assert out.shape == (size, size, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    # the square's corners map to the output's corners (pixel-edge coordinates)
    x0, y0 = fit.offset
    assert fit.apply_box((x0, y0, x0 + fit.side, y0 + fit.side)) == (0, 0, size, size)
    centre = fit.apply_coords(np.array([[x0 + (fit.side - 1) / 2, y0 + (fit.side - 1) / 2]]))
    assert np.allclose(centre, (size - 1) / 2)


def test_same_size_is_identity() -> None:
    mask = ellipse_hole(32, 32, ratio=0.3)
    fit = SquareFit(32, 32, 32)
    assert np.array_equal(fit.apply_mask(mask), mask)
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.array_equal(fit.apply_image(img), img)


# --- enlarge ---------------------------------------------------------------------------
@SETTINGS
@given(mask=masks(), a=st.floats(0, 12), b=st.floats(0, 12))
def test_dilate_is_monotone_and_zero_is_identity(mask: np.ndarray, a: float, b: float) -> None:
    hole = mask > 0
    assert np.array_equal(grow_hole(mask, 0), hole)
    small, large = grow_hole(mask, min(a, b)), grow_hole(mask, max(a, b))
    assert not (hole & ~small).any()  # the hole only grows
    assert not (small & ~large).any()  # more pixels -> a superset
    if hole.any() and not hole.all() and max(a, b) >= 1:
        assert large.sum() > hole.sum()


@SETTINGS
@given(mask=masks(), f=st.floats(0, 0.3), s=st.floats(1, 2))
def test_face_fraction_and_scale_only_grow(mask: np.ndarray, f: float, s: float) -> None:
    hole = mask > 0
    h, w = mask.shape
    boxes = [(0, 0, w // 2, h), (w // 2, 0, w, h)]
    grown, _ = dilate_by_face(mask, f, boxes)
    assert not (hole & ~grown).any()
    scaled = scale_holes(mask, s)
    assert not (hole & ~scaled).any()
    assert np.array_equal(dilate_by_face(mask, 0.0, boxes)[0], hole)
    assert np.array_equal(scale_holes(mask, 1.0), hole)
    both, _ = enlarge_mask(mask, pixels=0, scale=1.0)
    assert np.array_equal(both, hole)


def test_scale_enlarges_about_the_centre() -> None:
    mask = np.zeros((60, 60), np.uint8)
    mask[20:40, 25:35] = 255  # 10 wide, 20 tall, centre (30, 30)
    out = scale_holes(mask, 1.5)
    ys, xs = np.nonzero(out)
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (22, 37, 15, 45)  # 15 x 30, same centre


def test_face_fraction_uses_the_face_box_size() -> None:
    mask = np.zeros((100, 100), np.uint8)
    mask[60:70, 40:60] = 255
    big, fb = dilate_by_face(mask, 0.1, [(0, 0, 100, 100)])  # 10 px
    own, fo = dilate_by_face(mask, 0.1, [])  # own box 20x10 -> 1.5 px
    assert (fb, fo) == (0, 1)
    assert np.array_equal(big, grow_hole(mask, 10)) and np.array_equal(own, grow_hole(mask, 1.5))


# --- stats -----------------------------------------------------------------------------
@SETTINGS
@given(mask=masks())
def test_ratio_is_hole_pixels_over_all_pixels(mask: np.ndarray) -> None:
    r = hole_ratio(mask)
    assert r == np.count_nonzero(mask == 255) / mask.size
    assert hole_ratio(mask[None] > 0) == r  # (1, H, W) bool gives the same
    assert 0.0 <= r <= 1.0


@SETTINGS
@given(ratios=st.lists(st.floats(0, 1), max_size=60))
def test_every_ratio_lands_in_exactly_one_band(ratios: list[float]) -> None:
    counts = band_counts(ratios)
    assert sum(c for _, _, c in counts) == len(ratios)
    for lo, hi, c in counts:
        assert c == sum(1 for r in ratios if lo <= r < hi or (hi == 1.0 and r == 1.0))


# --- split -----------------------------------------------------------------------------
names_st = st.lists(st.text("abcdefgh0123456789_", min_size=1, max_size=8), min_size=1, max_size=60, unique=True)


@SETTINGS
@given(names=names_st, val=st.floats(0, 0.45), test=st.floats(0, 0.45), seed=st.integers(0, 10**6))
def test_split_is_deterministic_disjoint_complete(names: list[str], val: float, test: float, seed: int) -> None:
    a = assign_splits(names, val=val, test=test, seed=seed)
    b = assign_splits(list(reversed(names)), val=val, test=test, seed=seed)
    assert a == b  # same names, any order -> same split
    assert set(a) == set(names)  # complete; a dict gives each name exactly one split (disjoint)
    assert set(a.values()) <= {"train", "val", "test"}
    n = len(names)
    assert sum(v == "test" for v in a.values()) == round(test * n)
    assert sum(v == "val" for v in a.values()) == min(round(val * n), n - round(test * n))


@SETTINGS
@given(names=names_st, n_groups=st.integers(1, 8), seed=st.integers(0, 10**6))
def test_grouped_split_never_divides_a_group(names: list[str], n_groups: int, seed: int) -> None:
    groups = [f"g{hash(n) % n_groups}" for n in names]
    a = assign_splits(names, val=0.2, test=0.2, seed=seed, groups=groups)
    assert a == assign_splits(names, val=0.2, test=0.2, seed=seed, groups=groups)
    for g in set(groups):
        assert len({a[n] for n, gg in zip(names, groups) if gg == g}) == 1


def test_different_seeds_give_different_splits() -> None:
    names = [f"img{i:03d}" for i in range(100)]
    assert assign_splits(names, seed=0) != assign_splits(names, seed=1)


@pytest.mark.parametrize("val,test", [(-0.1, 0.1), (0.6, 0.5), (0.1, 1.0)])
def test_bad_fractions_refused(val: float, test: float) -> None:
    from triple_dots.errors import BadInputError

    with pytest.raises(BadInputError, match="fractions"):
        assign_splits(["a", "b"], val=val, test=test)


@SETTINGS
@given(h=st.integers(4, 80), w=st.integers(4, 80), cx=st.floats(-50, 150), cy=st.floats(-50, 150))
def test_centred_crop_stays_inside_and_contains_the_centre(h: int, w: int, cx: float, cy: float) -> None:
    fit = SquareFit(w, h, 16, "crop", center=(cx, cy))
    x0, y0 = fit.offset
    assert 0 <= x0 <= w - fit.side and 0 <= y0 <= h - fit.side
    if 0 <= cx <= w and 0 <= cy <= h:  # a centre inside the picture lies in the square
        assert x0 - 1 <= cx <= x0 + fit.side + 1 and y0 - 1 <= cy <= y0 + fit.side + 1
