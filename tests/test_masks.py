"""Mask synthesis on the real sample photos: detection, coverage of the hole, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from triple_dots.errors import BadInputError, MissingWeightsError, NoFaceError
from triple_dots.images import read_image_uint8
from triple_dots.masks import MASK_TYPES, Face, apply_mask, detect_faces
from triple_dots.masks.landmarks import plausibility_problems
from triple_dots.masks.outline import FaceMeasures, OutlineSpec, build_outline, head_turn, jaw_hit
from triple_dots.samples import SAMPLE_NAMES, sample_path

MUST_COVER = list(range(48, 68)) + [31, 32, 33, 34, 35, 8]  # mouth, nose base, chin
EYES = list(range(36, 48))


@pytest.fixture(scope="module")
def photos() -> dict[str, tuple[np.ndarray, list[Face]]]:
    """Every sample photo with its faces, detected once for the module."""
    out = {}
    for name in SAMPLE_NAMES:
        rgb = read_image_uint8(sample_path(name))
        out[name] = (rgb, detect_faces(rgb))
    return out


def _at(mask: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Mask values at rounded (x, y) points."""
    h, w = mask.shape
    xs = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    ys = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    return mask[ys, xs]


def _changed(before: np.ndarray, after: torch.Tensor) -> np.ndarray:
    """(H, W) bool: pixels whose 8-bit value differs in any channel."""
    after_u8 = (after.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return (after_u8 != before).any(2)


def _check_result(rgb: np.ndarray, faces: list[Face], res, margin: int = 0) -> None:
    hole = res.hole_mask[0].numpy()
    assert res.image.shape == (3, *rgb.shape[:2]) and res.hole_mask.shape == (1, *rgb.shape[:2])
    assert set(np.unique(hole).tolist()) <= {0.0, 1.0}
    hole = hole > 0
    changed = _changed(rgb, res.image)
    # 100 % coverage: no changed pixel outside the hole.
    assert int((changed & ~hole).sum()) == 0
    assert changed.sum() > 0.5 * hole.sum() / (1 + margin)  # the drawing really changed the hole
    for face in faces:
        assert _at(hole, face.landmarks[MUST_COVER]).all(), "mouth, nose base or chin left uncovered"
        if margin == 0:  # a user-requested margin may reach the eyes
            assert not _at(hole, face.landmarks[EYES]).any(), "an eye is covered"
        x0, y0, x1, y1 = face.box
        ratio = hole[y0:y1, x0:x1].sum() / float((x1 - x0) * (y1 - y0))
        assert 0.25 < ratio <= 1.0
    assert res.hole_ratio < 0.5


def test_every_sample_has_one_face(photos):
    for name, (rgb, faces) in photos.items():
        assert len(faces) == 1, name
        f = faces[0]
        assert f.landmarks.shape == (68, 2) and f.score > 0.5
        x0, y0, x1, y1 = f.box
        assert x0 < f.landmarks[30, 0] < x1 and y0 < f.landmarks[30, 1] < y1
        assert not plausibility_problems(f.landmarks, f.box, f.score)


def test_mission_patch_false_positive_is_rejected():
    rgb = read_image_uint8(sample_path("astronaut"))
    raw = detect_faces(rgb, upsample=1, keep_implausible=True)
    kept = detect_faces(rgb, upsample=1)
    assert len(raw) == 2  # dlib really does fire on the patch at upsample 1 ...
    assert len(kept) == 1  # ... and the landmark check drops it
    patch = [f for f in raw if f.box[1] > 300][0]
    assert plausibility_problems(patch.landmarks, patch.box, patch.score, rgb.mean(2))
    assert kept[0].box[1] < 150  # the real face, at the top


@pytest.mark.parametrize("mask_type", MASK_TYPES)
def test_hole_covers_every_changed_pixel(photos, mask_type):
    for name, (rgb, faces) in photos.items():
        res = apply_mask(rgb, mask_type, faces=faces)
        assert res.mask_type == mask_type and len(res.faces) == 1
        _check_result(rgb, faces, res)


@pytest.mark.parametrize("seed", [0, 11])
def test_coverage_with_seeds_and_margin(photos, seed):
    for name in ("grace_hopper", "obama2"):
        rgb, faces = photos[name]
        for mask_type in MASK_TYPES:
            plain = apply_mask(rgb, mask_type, faces=faces, seed=seed)
            wide = apply_mask(rgb, mask_type, faces=faces, seed=seed, margin=6)
            _check_result(rgb, faces, wide, margin=6)
            assert torch.equal(plain.image, wide.image)  # margin changes the hole only
            h0 = plain.hole_mask[0].numpy().astype(np.uint8)
            h6 = wide.hole_mask[0].numpy().astype(np.uint8)
            assert (h6 >= h0).all() and h6.sum() > h0.sum()
            # every pixel within 6 px of a changed pixel is in the hole
            changed = _changed(rgb, plain.image).astype(np.uint8)
            near = cv2.dilate(changed, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13)))
            assert int(((near > 0) & (h6 == 0)).sum()) == 0


def test_deterministic_for_a_seed(photos):
    rgb, faces = photos["obama"]
    a = apply_mask(rgb, "cloth", faces=faces, seed=5)
    b = apply_mask(rgb, "cloth", faces=faces, seed=5)
    c = apply_mask(rgb, "cloth", faces=faces, seed=6)
    assert torch.equal(a.image, b.image) and torch.equal(a.hole_mask, b.hole_mask)
    assert not torch.equal(a.image, c.image)
    assert torch.equal(apply_mask(rgb, faces=faces).image, apply_mask(rgb, faces=faces).image)
    assert apply_mask(rgb, "random", faces=faces, seed=5).mask_type == apply_mask(
        rgb, "random", faces=faces, seed=5).mask_type


def test_multi_face_image_union(photos):
    """A row of four sample photos: four faces, one mask each, the hole is their union."""
    tiles = []
    for name in ("grace_hopper", "astronaut", "obama", "obama2"):
        rgb = photos[name][0]
        scale = 420 / rgb.shape[0]
        tiles.append(cv2.resize(rgb, (round(rgb.shape[1] * scale), 420), interpolation=cv2.INTER_AREA))
    row = np.ascontiguousarray(np.concatenate(tiles, axis=1))
    faces = detect_faces(row)
    assert len(faces) == 4
    starts = np.cumsum([0] + [t.shape[1] for t in tiles[:-1]])
    for face, x in zip(faces, starts):  # sorted left to right, one per tile
        assert x <= face.box[0] < x + 420
    res = apply_mask(row, "surgical", faces=faces, margin=2)
    _check_result(row, faces, res, margin=2)
    singles = [apply_mask(row, "surgical", faces=[f], margin=2).hole_mask for f in faces]
    union = torch.stack(singles).amax(0)
    assert torch.equal(union, res.hole_mask)


def test_tensor_input_and_grayscale(photos):
    rgb, faces = photos["grace_hopper"]
    gray = np.repeat(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    tensor = torch.from_numpy(gray).permute(2, 0, 1).float() / 255
    res = apply_mask(tensor, "surgical")  # detection on the gray photo too
    assert len(res.faces) == 1
    assert torch.equal(res.image[0], res.image[1]) and torch.equal(res.image[1], res.image[2])
    _check_result(gray, res.faces, res)


def test_huge_image(photos):
    rgb = photos["obama"][0]
    big = cv2.resize(rgb, (rgb.shape[1] * 4, rgb.shape[0] * 4), interpolation=cv2.INTER_LINEAR)  # 3640 x 4548
    res = apply_mask(big, "n95")
    assert len(res.faces) == 1
    small_box = np.array(photos["obama"][1][0].box) * 4
    assert np.abs(np.array(res.faces[0].box) - small_box).max() < 0.1 * (small_box[2] - small_box[0])
    hole = res.hole_mask[0].numpy() > 0
    assert _at(hole, res.faces[0].landmarks[MUST_COVER]).all()


def test_no_face_tiny_and_bad_options():
    blank = np.full((300, 300, 3), 128, np.uint8)
    with pytest.raises(NoFaceError, match="no face"):
        apply_mask(blank)
    with pytest.raises(NoFaceError, match="too small"):
        apply_mask(np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(BadInputError, match="unknown mask type"):
        apply_mask(blank, "bandana")
    with pytest.raises(BadInputError, match="colour"):
        apply_mask(blank, color="#12345")
    with pytest.raises(BadInputError, match="margin"):
        apply_mask(blank, margin=-1)


def test_missing_predictor_file(tmp_path):
    with pytest.raises(MissingWeightsError, match="dlib-landmarks68"):
        detect_faces(np.zeros((100, 100, 3), np.uint8), predictor_path=tmp_path / "nope.dat")


def test_head_turn_flips_with_the_photo(photos):
    rgb, faces = photos["obama2"]
    turn = head_turn(faces[0].landmarks)
    mirrored = detect_faces(np.ascontiguousarray(rgb[:, ::-1]))
    back = head_turn(mirrored[0].landmarks)
    assert turn.variant == "left" and back.variant == "right"
    assert abs(turn.yaw_deg + back.yaw_deg) < 5
    assert head_turn(photos["grace_hopper"][1][0].landmarks).variant == "frontal"


def test_construction_line_missing_the_jaw_does_not_crash(photos):
    jaw = np.array([[0.0, 10.0], [2.0, 20.0], [6.0, 30.0], [12.0, 38.0]])
    p, _, exact = jaw_hit(jaw, 25.0)
    assert exact and 2 <= p[0] <= 6
    p, seg, exact = jaw_hit(jaw, 0.0)  # above the jaw: extend the first segment
    assert not exact and seg == -1 and p[1] == 0.0 and p[0] < 0
    p, _, exact = jaw_hit(np.array([[0.0, 10.0], [5.0, 10.0], [9.0, 10.0]]), 50.0)  # flat jaw
    assert not exact and np.isfinite(p).all()
    # A face whose jaw ends below the nose: MaskTheFace raises IndexError here.
    lm = photos["grace_hopper"][1][0].landmarks.copy()
    lm[[0, 1, 2, 14, 15, 16], 1] = lm[33, 1] + 5
    outline = build_outline(FaceMeasures.of(lm), OutlineSpec(0.4, 0.9, 1.5, 0.05, 0.01, 0.2))
    assert not outline.exact and np.isfinite(outline.polygon).all()
    res = apply_mask(photos["grace_hopper"][0], faces=[Face(box=(161, 137, 377, 353), landmarks=lm, score=1.0)])
    assert res.hole_mask.sum() > 0


def test_face_cut_by_the_image_border(photos):
    rgb, faces = photos["grace_hopper"]
    x_mid = int(faces[0].landmarks[30, 0])
    crop = np.ascontiguousarray(rgb[:, x_mid - 20:])  # the left half of the face is cut away
    face = Face(box=(0, faces[0].box[1], faces[0].box[2] - x_mid + 20, faces[0].box[3]),
                landmarks=faces[0].landmarks - np.array([x_mid - 20, 0.0]), score=faces[0].score)
    for mask_type in MASK_TYPES:
        res = apply_mask(crop, mask_type, faces=[face])
        changed = _changed(crop, res.image)
        assert changed.any() and not (changed & (res.hole_mask[0].numpy() == 0)).any()


def test_predictor_is_loaded_once():
    from triple_dots.masks.landmarks import load_predictor

    assert load_predictor() is load_predictor()


def test_weak_but_symmetric_face_is_not_rejected_for_eye_brightness(photos):
    rgb, faces = photos["grace_hopper"]
    f = faces[0]
    flat = np.full(rgb.shape[:2], 120, np.uint8)  # eyes as bright as the nose: contrast alone must not reject
    assert plausibility_problems(f.landmarks, f.box, 0.1, flat) == []
    squashed = f.landmarks.copy()
    squashed[:9, 0] -= 0.5 * (squashed[:9, 0] - squashed[30, 0])  # one half of the jaw pulled in: lopsided
    assert plausibility_problems(squashed, f.box, 0.1, flat)
    assert not plausibility_problems(squashed, f.box, 1.5, flat)  # confident detections skip the shape test


def test_bundled_hog_detector_is_dlibs_own(tmp_path):
    import dlib

    from triple_dots.masks.landmarks import load_detector

    dlib.get_frontal_face_detector().save(str(tmp_path / "builtin.svm"))
    load_detector().save(str(tmp_path / "loaded.svm"))
    assert (tmp_path / "builtin.svm").read_bytes() == (tmp_path / "loaded.svm").read_bytes()


def test_hog_skips_only_levels_without_faces_and_finds_what_the_full_pass_finds(photos, monkeypatch):
    from triple_dots.masks import landmarks
    from triple_dots.masks.landmarks import _hog_pyramid_skip, detection_scale

    rgb, faces = photos["grace_hopper"]
    x0, y0, x1, y1 = faces[0].box
    cx, cy, half = (x0 + x1) // 2, (y0 + y1) // 2, int(1.1 * (x1 - x0))
    crop = np.ascontiguousarray(cv2.resize(rgb[cy - half:cy + half, cx - half:cx + half], (512, 512)))
    assert _hog_pyramid_skip(crop, detection_scale(512, 512)) >= 3  # an aligned face crop: most levels skipped
    pasted = crop.copy()
    pasted[:160, -150:] = cv2.resize(photos["obama2"][0], (150, 288))[:160]  # a second, smaller face
    assert _hog_pyramid_skip(pasted, detection_scale(512, 512)) <= 1
    images = [crop, pasted, photos["obama"][0], photos["astronaut"][0]]
    fast = [detect_faces(im, detector="hog") for im in images]
    monkeypatch.setattr(landmarks, "_hog_pyramid_skip", lambda *args: 0)
    for im, got in zip(images, fast):
        full = detect_faces(im, detector="hog")
        assert [f.box for f in got] == [f.box for f in full] and len(full) >= 1
        assert all(np.array_equal(a.landmarks, b.landmarks) and a.score == b.score for a, b in zip(got, full))
    assert len(fast[1]) == 2
