"""SAM click-to-segment: loading, clicks -> hole mask, cache, undo/reset, bad input (random-weight vit_b)."""

from __future__ import annotations

import numpy as np
import pytest
import segment_support as sup
import torch

from triple_dots.errors import BadInputError, BadWeightsError, MissingWeightsError
from triple_dots.images import grow_hole
from triple_dots.segment import ClickSegmenter, clean_mask, load_sam, model_type_of
from triple_dots.segment.clicks import image_key
from triple_dots.segment.sam import read_state_dict

pytestmark = pytest.mark.slow  # the first test pays the one vit_b embedding (~25 s on 2 cores)


@pytest.fixture
def seg() -> ClickSegmenter:
    s = sup.segmenter()
    assert s.set_image(sup.photo()) is True  # cache hit: clicks cleared, no encoder run
    return s


# ---------------------------------------------------------------- loading
def test_load_random_vit_b_through_the_registry_path() -> None:
    sam = sup.sam()
    assert not sam.training
    assert model_type_of(read_state_dict(sup.sam_checkpoint())) == "vit_b"
    assert sum(p.numel() for p in sam.parameters()) > 90e6


def test_missing_weights_name_the_file_and_the_url(isolated_home) -> None:
    with pytest.raises(MissingWeightsError, match="sam_vit_b_01ec64.pth") as exc:
        load_sam("vit_b")
    assert "dl.fbaipublicfiles.com" in str(exc.value)
    with pytest.raises(MissingWeightsError, match="sam_vit_h_4b8939.pth"):
        load_sam("vit_h")
    with pytest.raises(MissingWeightsError, match="nope.pth"):
        load_sam("vit_b", isolated_home / "nope.pth")


def test_weights_of_another_model_type_are_refused_clearly() -> None:
    with pytest.raises(BadWeightsError, match=r"is a SAM vit_b checkpoint, not vit_l.*--model vit_b"):
        load_sam("vit_l", sup.sam_checkpoint())
    with pytest.raises(BadWeightsError, match="not vit_h"):
        load_sam("vit_h", sup.sam_checkpoint())


def test_unknown_model_type(tmp_path) -> None:
    with pytest.raises(BadInputError, match="unknown SAM model type 'vit_x'"):
        load_sam("vit_x", sup.sam_checkpoint())


def test_files_that_are_not_sam_are_refused(tmp_path) -> None:
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(4, 3, 3, 3)}, other)
    with pytest.raises(BadWeightsError, match="not a Segment Anything checkpoint"):
        load_sam(checkpoint=other)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file at all" * 10)
    with pytest.raises(BadWeightsError, match="junk.pth.*cannot be read"):
        load_sam(checkpoint=junk)
    pickled = tmp_path / "pickled.pth"
    torch.save({"model": BadWeightsError("code, not tensors")}, pickled)  # weights_only=True refuses objects
    with pytest.raises(BadWeightsError, match="pickled.pth"):
        load_sam(checkpoint=pickled)


def test_wrong_width_sam_file(tmp_path) -> None:
    sd = {"image_encoder.patch_embed.proj.weight": torch.zeros(512, 3, 16, 16)}
    path = tmp_path / "odd.pth"
    torch.save(sd, path)
    with pytest.raises(BadWeightsError, match="width 512"):
        load_sam(checkpoint=path)


def test_truncated_sam_state_dict(tmp_path) -> None:
    sd = read_state_dict(sup.sam_checkpoint())
    sd.pop("mask_decoder.iou_token.weight")
    path = tmp_path / "partial.pth"
    torch.save(sd, path)
    with pytest.raises(BadWeightsError, match="partial.pth.*does not fit SAM vit_b"):
        load_sam("vit_b", path)


# ---------------------------------------------------------------- clicks -> mask
def _expected(seg: ClickSegmenter, points, labels, margin: int) -> np.ndarray:
    """Independent path: SamPredictor.predict, best of 3 by score, cleaned, dilated."""
    masks, scores, _ = seg.predictor.predict(
        point_coords=np.array(points, dtype=np.float32), point_labels=np.array(labels), multimask_output=True
    )
    best = masks[int(np.argmax(scores))]
    return grow_hole(clean_mask(best, min_island=seg.min_island), margin)


def test_click_gives_a_binary_hole_mask_in_our_convention(seg: ClickSegmenter) -> None:
    h, w = seg.size
    mask = seg.add_click(w * 0.5, h * 0.6)
    assert mask.shape == (1, h, w) and mask.dtype == torch.float32
    assert set(torch.unique(mask).tolist()) <= {0.0, 1.0}
    # polarity: 1 exactly where SAM's chosen foreground is (after cleaning + dilation)
    expected = _expected(seg, [[w * 0.5, h * 0.6]], [1], seg.margin)
    assert np.array_equal(mask[0].numpy() > 0.5, expected)
    assert isinstance(seg.score, float) and np.isfinite(seg.score)  # SAM's predicted IoU of the kept mask


def test_dilation_is_monotone_in_the_margin(seg: ClickSegmenter) -> None:
    h, w = seg.size
    seg.add_click(w * 0.45, h * 0.55)
    masks = [seg.mask(margin=m)[0].numpy() > 0.5 for m in (0, 2, 8, 20)]
    for small, big in zip(masks, masks[1:]):
        assert np.all(big[small]), "a larger margin must keep every hole pixel"
        assert big.sum() >= small.sum()
    if 0 < masks[0].sum() < masks[0].size:
        assert masks[-1].sum() > masks[0].sum()
    dot = np.zeros((41, 41), dtype=bool)
    dot[20, 20] = True
    areas = [grow_hole(dot, m).sum() for m in (0, 1, 3, 6)]
    assert areas[0] == 1 and areas == sorted(areas) and len(set(areas)) == 4
    assert abs(areas[3] - np.pi * 6.5**2) < 0.2 * np.pi * 6.5**2  # about a disc of radius margin
    with pytest.raises(BadInputError, match="margin"):
        seg.mask(margin=-1)


def test_second_click_and_same_photo_do_not_run_the_encoder_again(seg: ClickSegmenter) -> None:
    counter = sup.encoder_counter()
    before = counter.calls
    h, w = seg.size
    seg.add_click(w * 0.5, h * 0.5)
    seg.add_click(w * 0.3, h * 0.3, label=0)
    copy = sup.photo().clone()  # same content, another tensor: the key is the content
    assert seg.set_image(copy) is True
    seg.add_click(w * 0.5, h * 0.7)
    assert counter.calls == before, "clicks and a re-set photo must reuse the cached embedding"
    assert seg.encoder_runs == 1
    other = sup.photo().clone()
    other[0, 0, 0] = 1.0 - other[0, 0, 0]
    assert image_key(seg.image) != image_key((other.permute(1, 2, 0) * 255).round().byte().numpy())


def test_embedding_cache_on_disk_is_reused_by_a_new_segmenter() -> None:
    counter = sup.encoder_counter()
    first = sup.segmenter()
    first.set_image(sup.photo())
    h, w = first.size
    expected = first.segment([(w * 0.5, h * 0.6, 1), (w * 0.5, h * 0.2, 0)])
    before = counter.calls
    fresh = ClickSegmenter(sup.sam(), margin=first.margin, cache_dir=sup.cache_dir())
    assert fresh.set_image(sup.photo()) is True
    got = fresh.segment([(w * 0.5, h * 0.6, 1), (w * 0.5, h * 0.2, 0)])
    assert counter.calls == before and fresh.encoder_runs == 0
    assert torch.equal(got, expected)
    assert list(sup.cache_dir().glob(f"sam-{fresh.model_fingerprint()}-*.pt"))


def test_a_broken_disk_cache_file_is_ignored(tmp_path) -> None:
    seg = ClickSegmenter(sup.sam(), cache_dir=tmp_path)
    key = image_key(sup.segmenter().image)
    seg._disk_path(key).write_bytes(b"truncated")
    seg._load_disk(key)
    assert key not in seg._cache, "an unreadable cache file must be recomputed, never trusted"


def test_undo_and_reset(seg: ClickSegmenter) -> None:
    h, w = seg.size
    one = seg.add_click(w * 0.5, h * 0.6)
    seg.add_click(w * 0.2, h * 0.2, label=0)
    assert len(seg.clicks) == 2 and seg.clicks[1].label == 0
    back = seg.undo()
    assert len(seg.clicks) == 1 and torch.equal(back, one)
    assert seg.undo() is None and seg.clicks == ()
    seg.add_click(w * 0.5, h * 0.6)
    seg.reset()
    assert seg.clicks == ()
    with pytest.raises(BadInputError, match="no positive click"):
        seg.mask()


def test_points_path_equals_clicking(seg: ClickSegmenter) -> None:
    h, w = seg.size
    pts = [(w * 0.5, h * 0.6, 1), (w * 0.4, h * 0.3, 0), (w * 0.55, h * 0.75, 1)]
    for x, y, label in pts:
        clicked = seg.add_click(x, y, label)
    assert torch.equal(seg.segment(pts), clicked)
    assert seg.segment([(w * 0.5, h * 0.6)]).shape == (1, h, w)  # label defaults to 1


def test_box_prompt(seg: ClickSegmenter) -> None:
    h, w = seg.size
    m = seg.set_box((w * 0.2, h * 0.4, w * 0.8, h * 0.9))
    assert m is not None and m.shape == (1, h, w)
    m2 = seg.segment([(w * 0.3, h * 0.2, 0)], box=(w * 0.2, h * 0.4, w * 0.8, h * 0.9))
    assert m2.shape == (1, h, w) and seg.box is not None
    with pytest.raises(BadInputError, match="outside the photo"):
        seg.set_box((0, 0, w + 50, h))
    with pytest.raises(BadInputError, match="empty"):
        seg.set_box((w * 0.5, h * 0.5, w * 0.4, h * 0.6))


@pytest.mark.parametrize("x, y", [(-1, 10), (10, -0.5), ("W", 10), (10, "H"), (float("nan"), 3)])
def test_clicks_outside_the_photo_are_refused(seg: ClickSegmenter, x, y) -> None:
    h, w = seg.size
    x = w if x == "W" else x
    y = h + 3 if y == "H" else y
    with pytest.raises(BadInputError, match=rf"outside the photo: x must be in \[0, {w}\) and y in \[0, {h}\)"):
        seg.add_click(x, y)
    assert seg.clicks == ()


def test_no_positive_click_is_refused(seg: ClickSegmenter) -> None:
    h, w = seg.size
    with pytest.raises(BadInputError, match="no positive click"):
        seg.add_click(w * 0.5, h * 0.5, label=0)
    with pytest.raises(BadInputError, match="no positive click"):
        seg.segment([(w * 0.5, h * 0.5, 0)])
    with pytest.raises(BadInputError, match="no prompt"):
        seg.segment([])
    with pytest.raises(BadInputError, match="label"):
        seg.add_click(10, 10, label=2)


def test_clicking_before_a_photo_is_set() -> None:
    fresh = ClickSegmenter(sup.sam())
    with pytest.raises(BadInputError, match="set_image"):
        fresh.add_click(1, 1)
    with pytest.raises(BadInputError, match="margin"):
        ClickSegmenter(sup.sam(), margin=-3)
    with pytest.raises(BadInputError, match=r"\(3, H, W\)"):
        fresh.set_image(torch.zeros(1, 8, 8))


def test_clean_mask_removes_islands_and_fills_holes() -> None:
    m = np.zeros((100, 100), dtype=bool)
    m[20:80, 20:80] = True
    m[40:50, 40:50] = False  # a hole inside
    m[2:4, 2:4] = True  # a 4-pixel island
    out = clean_mask(m, min_island=0.001)
    assert out[45, 45] and not out[3, 3]
    assert out.sum() == 60 * 60
    assert clean_mask(np.zeros((10, 10), bool)).sum() == 0


def test_hole_filling_equals_scipy_binary_fill_holes() -> None:
    """clean_mask fills holes with an OpenCV flood fill; it must agree with scipy's definition."""
    from scipy import ndimage

    from triple_dots.segment.clicks import clean_mask

    rng = np.random.default_rng(0)
    for trial in range(100):
        m = rng.random((40, 56)) < rng.uniform(0.2, 0.8)
        if trial % 2:
            m = ndimage.binary_opening(m)
        assert np.array_equal(clean_mask(m, min_island=0), ndimage.binary_fill_holes(m)), trial
    ring = np.zeros((9, 9), bool)
    ring[2:7, 2:7] = True
    ring[4, 4] = False
    assert clean_mask(ring, min_island=0)[4, 4]  # the enclosed pixel becomes hole


# ---------------------------------------------------------------- decoder layout
@pytest.mark.parametrize("case", ["click", "click again (cached projections)", "box + clicks", "previous mask"])
def test_click_decoder_equals_sams_mask_decoder(seg: ClickSegmenter, case: str) -> None:
    """Our single-photo decoder layout gives SAM's own best multimask candidate (logits and score)."""
    from triple_dots.segment.decoder import ClickDecoder

    sam, p = seg.sam, seg.predictor
    decoder = ClickDecoder(sam) if case != "click again (cached projections)" else seg._decoder
    h, w = seg.size
    coords = torch.tensor([[[w * 0.5, h * 0.6], [w * 0.3, h * 0.3]]], dtype=torch.float32)
    labels = torch.tensor([[1, 0]])
    coords = torch.as_tensor(p.transform.apply_coords(coords.numpy()[0], p.original_size))[None]
    box = torch.as_tensor(p.transform.apply_boxes(np.array([[w * 0.2, h * 0.4, w * 0.8, h * 0.9]]), p.original_size),
                          dtype=torch.float32) if case == "box + clicks" else None
    masks = torch.randn(1, 1, 256, 256, generator=torch.Generator().manual_seed(0)) if case == "previous mask" else None
    with torch.no_grad():
        if case == "click again (cached projections)":
            seg.reset()
            seg.add_click(w * 0.5, h * 0.6)  # fills the decoder's per-photo cache
        sparse, dense = sam.prompt_encoder(points=(coords, labels), boxes=box, masks=masks)
        low_res, iou = sam.mask_decoder(image_embeddings=p.features, image_pe=sam.prompt_encoder.get_dense_pe(),
                                        sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                        multimask_output=True)
        logits, score = decoder(seg._key, p.features, sparse, dense if masks is not None else None)
    best = int(iou[0].argmax())
    assert logits.shape == (1, 256, 256)
    assert score == pytest.approx(float(iou[0, best]), abs=1e-5)
    torch.testing.assert_close(logits, low_res[0, best:best + 1], rtol=1e-4, atol=1e-4)
