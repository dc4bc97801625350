"""The click UI without a browser (fake ipyevents dicts, button clicks) and `regenerate` (random-weight SAM)."""

from __future__ import annotations

import pytest
import segment_support as sup
import torch

from triple_dots.errors import BadInputError, SizeMismatchError
from triple_dots.images import read_image, read_mask
from triple_dots.segment import regenerate
from triple_dots.segment.regenerate import crop_box
from triple_dots.segment.widget import NEGATIVE, SegmentWidget, overlay_points

pytestmark = pytest.mark.slow  # shares the one vit_b embedding with test_segment.py


class FakeInpainter:
    """Records its inputs and paints the hole a constant colour."""

    def __init__(self) -> None:
        self.calls: list[tuple[torch.Size, torch.Size, set]] = []

    def __call__(self, images: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
        self.calls.append((images.shape, holes.shape, set(holes.unique().tolist())))
        return images * (1 - holes) + torch.tensor([0.1, 0.9, 0.2]).view(1, 3, 1, 1) * holes


@pytest.fixture
def widget(tmp_path) -> SegmentWidget:
    return SegmentWidget(sup.segmenter(), sup.photo(), name="hopper", out_dir=tmp_path / "out",
                         inpaint=FakeInpainter(), inpaint_size=64, display_width=256, margin=4)


def test_widget_reuses_the_embedding_and_maps_clicks_to_photo_pixels(widget: SegmentWidget) -> None:
    assert "from the cache" in widget.status.value and "0 clicks" in widget.status.value
    h, w = widget.segmenter.size
    scale = 256 / w
    assert widget.scale == pytest.approx(scale)
    empty_png = widget.photo.value
    widget.handle_event({"type": "click", "dataX": 128, "dataY": 230})
    c = widget.segmenter.clicks[0]
    assert (c.x, c.y, c.label) == (pytest.approx(128 / scale), pytest.approx(230 / scale), 1)
    assert widget.photo.value != empty_png, "the overlay is redrawn after the click"
    assert "1 click (1 positive, 0 negative)" in widget.status.value and "ms" in widget.status.value
    widget.handle_event({"type": "click", "dataX": 120, "dataY": 60, "shiftKey": True})
    widget.handle_event({"type": "contextmenu", "dataX": 100, "dataY": 50})
    widget.mode.value = NEGATIVE
    widget.handle_event({"type": "click", "dataX": 140, "dataY": 40})
    assert [c.label for c in widget.segmenter.clicks] == [1, 0, 0, 0]
    assert torch.equal(widget.hole_mask, widget.segmenter.mask(4))


def test_widget_shows_bad_clicks_in_the_status_line(widget: SegmentWidget) -> None:
    widget.handle_event({"type": "click", "dataX": 10_000, "dataY": 5})
    assert "outside the photo" in widget.status.value and "#b00020" in widget.status.value
    widget.mode.value = NEGATIVE
    widget.handle_event({"type": "click", "dataX": 100, "dataY": 100})
    assert "no positive click" in widget.status.value
    assert widget.segmenter.clicks == ()
    widget.save_mask_button.click()
    assert "no mask yet" in widget.status.value


def test_undo_reset_and_margin_slider(widget: SegmentWidget) -> None:
    widget.click(256, 370)
    widget.click(256, 120, 0)
    widget.undo_button.click()
    assert len(widget.segmenter.clicks) == 1
    widget.margin.value = 12
    assert torch.equal(widget.hole_mask, widget.segmenter.mask(12))
    widget.margin.value = 0
    assert widget.hole_mask.sum() <= widget.segmenter.mask(12).sum()
    widget.reset_button.click()
    assert widget.segmenter.clicks == () and widget.hole_mask is None


def test_points_path_regenerate_and_atomic_saves(widget: SegmentWidget, tmp_path) -> None:
    h, w = widget.segmenter.size
    mask = widget.apply_points([(w * 0.5, h * 0.62, 1), (w * 0.5, h * 0.2, 0)])
    if mask.sum() == 0 or mask.mean() == 1:  # random SAM weights: make sure there is a hole to regenerate
        widget.apply_points([(w * 0.5, h * 0.62, 1)])
    widget.regenerate_button.click()
    result = widget.result
    assert result is not None and result.shape == (3, h, w)
    hole = widget.hole_mask.bool().expand(3, h, w)
    photo = sup.photo()
    q = lambda t: (t * 255).round()  # the widget works on the uint8 photo
    assert torch.equal(q(result[~hole]), q(photo[~hole])), "pixels outside the hole are unchanged"
    assert widget.inpaint.calls[0][:2] == ((1, 3, 64, 64), (1, 1, 64, 64))
    assert widget.comparison.layout.display == "" and widget.comparison.value
    widget.save_mask_button.click()
    widget.save_result_button.click()
    out = tmp_path / "out"
    assert torch.equal(read_mask(out / "masks" / "hopper.png"), widget.hole_mask)
    assert read_image(out / "results" / "hopper.png").shape == (3, h, w)
    # no overwrite unless ticked: the status says so and the file stays
    before = (out / "masks" / "hopper.png").read_bytes()
    widget.margin.value = widget.margin.value + 6
    widget.save_mask_button.click()
    assert "already exists" in widget.status.value
    assert (out / "masks" / "hopper.png").read_bytes() == before
    widget.overwrite.value = True
    widget.save_mask_button.click()
    assert torch.equal(read_mask(out / "masks" / "hopper.png"), widget.hole_mask)
    assert not list(out.rglob(".*.tmp")), "no temporary files left behind"


def test_widget_without_inpainter(tmp_path) -> None:
    w = SegmentWidget(sup.segmenter(), sup.photo(), out_dir=tmp_path, points=[(256, 370, 1)])
    assert w.regenerate_button.disabled and len(w.segmenter.clicks) == 1
    with pytest.raises(BadInputError, match="no inpainter"):
        w.regenerate()
    w.save_result_button.click()
    assert "press Regenerate first" in w.status.value


def test_overlay_points_draws_on_a_copy() -> None:
    photo = sup.photo()
    pic = overlay_points(photo, None, [(100, 100, 1), (200, 200, 0)])
    assert pic.shape == photo.shape and not torch.equal(pic, photo)
    assert pic[1, 100, 100] > 0.8 and pic[2, 200, 200] > 0.9  # green and blue dots


# ---------------------------------------------------------------- regenerate
def test_regenerate_pastes_only_the_hole() -> None:
    image = torch.rand(3, 120, 90)
    hole = torch.zeros(1, 120, 90)
    hole[:, 60:90, 30:60] = 1
    fake = FakeInpainter()
    out = regenerate(image, hole, fake, size=48)
    assert fake.calls[0][0] == (1, 3, 48, 48) and fake.calls[0][2] <= {0.0, 1.0}
    assert torch.equal(out[:, hole[0] == 0], image[:, hole[0] == 0])
    assert torch.allclose(out[:, 70, 40], torch.tensor([0.1, 0.9, 0.2]), atol=1e-3)
    x0, y0, x1, y1 = crop_box(hole, context=0.6)
    assert x1 - x0 == y1 - y0 and 0 <= x0 and x1 <= 90 and 0 <= y0 and y1 <= 120
    assert x0 <= 30 and y0 <= 60 and x1 >= 60 and y1 >= 90


def test_regenerate_with_a_tiny_tfill(tmp_path) -> None:
    from triple_dots.tfill import TFill

    torch.manual_seed(0)
    tfill = TFill("tiny", fine_size=64).eval()
    image = torch.rand(3, 100, 80)
    hole = torch.zeros(1, 100, 80)
    hole[:, 50:80, 20:60] = 1
    out = regenerate(image, hole, lambda i, m: tfill.inpaint(i, m, seed=0), size=64)
    assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
    assert torch.equal(out[:, hole[0] == 0], image[:, hole[0] == 0])
    assert not torch.allclose(out[:, hole[0] == 1], image[:, hole[0] == 1])
    # the widget takes the model itself (base or personalised checkpoint)
    seg = sup.segmenter()
    h, w = seg.size
    widget = SegmentWidget(seg, sup.photo(), out_dir=tmp_path, inpaint=tfill, inpaint_size=64,
                           points=[(w * 0.5, h * 0.62, 1)])
    assert widget.hole_mask.sum() > 0
    result = widget.regenerate()
    keep = (widget.hole_mask == 0).expand(3, h, w)
    assert result.shape == (3, h, w)
    assert torch.equal((result[keep] * 255).round(), (sup.photo()[keep] * 255).round())


def test_regenerate_bad_input() -> None:
    with pytest.raises(BadInputError, match="empty"):
        regenerate(torch.rand(3, 20, 20), torch.zeros(1, 20, 20), FakeInpainter())
    with pytest.raises(SizeMismatchError, match="does not match"):
        regenerate(torch.rand(3, 20, 20), torch.ones(1, 20, 21), FakeInpainter())
    with pytest.raises(BadInputError, match="returned shape"):
        regenerate(torch.rand(3, 20, 20), torch.ones(1, 20, 20), lambda i, m: i[:, :, :8], size=16)


def test_save_mask_never_replaces_a_meta_file_unless_overwrite_is_ticked(widget: SegmentWidget, tmp_path) -> None:
    """Only the meta JSON exists (e.g. from an earlier session): Save mask refuses and writes neither file."""
    h, w = widget.segmenter.size
    widget.apply_points([(w * 0.5, h * 0.62, 1)])
    meta = tmp_path / "out" / "meta" / "hopper.json"
    meta.parent.mkdir(parents=True)
    meta.write_text('{"mine": true}\n')
    widget.save_mask_button.click()
    assert "already exists" in widget.status.value and "meta" in widget.status.value
    assert meta.read_text() == '{"mine": true}\n' and not (tmp_path / "out" / "masks" / "hopper.png").exists()
