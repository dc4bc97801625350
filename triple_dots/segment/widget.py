"""The click-to-segment notebook UI (ipywidgets + ipyevents; JupyterLab 4 and VS Code with ipyevents >= 2.0.2).

Shift-click or right-click gives a negative point; "Regenerate" shows before / after; the save buttons write atomically
under ``out_dir``, never over an existing file unless the overwrite box is ticked. For papermill/CI pass
``points=[(x, y, label), ...]`` (or call :meth:`SegmentWidget.click`).
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from triple_dots.dataset_folder import MASKS_DIR, META_DIR, Meta, write_meta
from triple_dots.errors import BadInputError, OutputExistsError, TripleDotsError, where
from triple_dots.images import as_rgb_uint8, encode_image, from_uint8, hole_ratio, to_uint8, write_image, write_mask
from triple_dots.segment.clicks import ClickSegmenter, as_click
from triple_dots.segment.regenerate import Inpainter, regenerate
from triple_dots.viz import image_grid, overlay_mask

POSITIVE, NEGATIVE = "positive (mask)", "negative (keep)"


def _draw(image: np.ndarray, hole_mask: torch.Tensor | None, points: Iterable, scale: float) -> Image.Image:
    img = from_uint8(image)
    pil = Image.fromarray(to_uint8(img if hole_mask is None else overlay_mask(img, hole_mask)))
    if scale != 1.0:
        size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
        pil = pil.resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(pil)
    r = max(3, round(min(pil.size) / 90))
    for p in map(as_click, points):
        x, y = p.x * scale, p.y * scale
        fill = (40, 220, 60) if p.label == 1 else (40, 120, 255)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill, outline=(255, 255, 255), width=max(1, r // 3))
    return pil


def overlay_points(
    image: torch.Tensor | np.ndarray, hole_mask: torch.Tensor | None = None, points: Iterable = ()
) -> torch.Tensor:
    """``image`` ((3, H, W) [0, 1] or (H, W, 3) uint8) with the hole tinted red and ``points`` (Clicks or
    (x, y[, label]) pixels) drawn, green = positive, blue = negative; (3, H, W) float in [0, 1]."""
    return from_uint8(np.array(_draw(as_rgb_uint8(image), hole_mask, points, 1.0)))


class SegmentWidget:
    """Click-to-segment one photo, regenerate the face, save mask and result.

    Args:
        segmenter: a :class:`ClickSegmenter` (its SAM embedding cache is reused).
        image: the photo, (3, H, W) float in [0, 1] or (H, W, 3) uint8 RGB.
        name: file stem of ``out_dir/masks/NAME.png``, ``out_dir/results/NAME.png`` and ``out_dir/meta/NAME.json``.
        out_dir: where the save buttons write.
        inpaint: a TFill model (its ``inpaint`` is used with ``seed=0``) or any inpainter
            ``(B,3,S,S), (B,1,S,S) -> (B,3,S,S)``; None disables "Regenerate".
        inpaint_size: side of the square crop the inpainter sees (256 for the released TFill).
        display_width: the photo is shown at most this wide (clicks are mapped back to photo pixels).
        points: optional [(x, y, label), ...] applied at once (the non-interactive path).
        margin: initial dilation in pixels (default: the segmenter's).
    """

    def __init__(self, segmenter: ClickSegmenter, image: torch.Tensor | np.ndarray, *, name: str = "photo",
                 out_dir: str | Path = "outputs/segment", inpaint: Inpainter | torch.nn.Module | None = None,
                 inpaint_size: int = 256, display_width: int = 640, points: Sequence[Sequence[float]] | None = None,
                 margin: int | None = None):
        import ipywidgets as W
        from ipyevents import Event

        self.segmenter = segmenter
        t0 = time.perf_counter()
        cached = segmenter.set_image(image)
        embed_s = time.perf_counter() - t0
        self.name = name
        self.out_dir = Path(out_dir)
        if inpaint is not None and hasattr(inpaint, "inpaint"):
            model = inpaint
            inpaint = lambda images, holes: model.inpaint(  # noqa: E731
                images.to(model.device), holes.to(model.device), seed=0
            ).cpu()
        self.inpaint = inpaint
        self.inpaint_size = int(inpaint_size)
        h, w = segmenter.size
        self.scale = min(1.0, display_width / w)
        self.result: torch.Tensor | None = None
        self._last_ms: float | None = None

        disp_w = max(1, round(w * self.scale))
        self.photo = W.Image(format="png", layout=W.Layout(width=f"{disp_w}px", max_width="none"))
        self.photo.add_class("triple-dots-sam-photo")
        self.events = Event(source=self.photo, watched_events=["click", "contextmenu"], prevent_default_action=True)
        self.events.on_dom_event(self.handle_event)
        self.mode = W.ToggleButtons(options=[POSITIVE, NEGATIVE], value=POSITIVE, description="Click adds")
        self.undo_button = W.Button(description="Undo", icon="undo")
        self.reset_button = W.Button(description="Reset", icon="trash")
        self.margin = W.IntSlider(value=segmenter.margin if margin is None else int(margin), min=0, max=64, step=1,
                                  description="Margin px", continuous_update=False)
        self.regenerate_button = W.Button(description="Regenerate", icon="magic", button_style="primary",
                                          disabled=inpaint is None)
        self.save_mask_button = W.Button(description="Save mask", icon="save")
        self.save_result_button = W.Button(description="Save result", icon="save")
        self.overwrite = W.Checkbox(value=False, description="overwrite existing files", indent=False)
        self.status = W.HTML()
        self.status.add_class("triple-dots-sam-status")
        self.comparison = W.Image(format="png")
        self.comparison.layout.display = "none"

        for action in ("undo", "reset", "regenerate", "save_mask", "save_result"):  # NAME_button runs self.NAME
            getattr(self, f"{action}_button").on_click(lambda _, action=action: self._guard(getattr(self, action)))
        self.margin.observe(lambda _: self._guard(self._refresh), names="value")

        self.ui = W.VBox([
            W.HBox([self.mode, self.undo_button, self.reset_button]),
            self.photo,
            W.HBox([self.margin, self.regenerate_button]),
            W.HBox([self.save_mask_button, self.save_result_button, self.overwrite]),
            self.status,
            self.comparison,
        ])
        if points:
            segmenter.segment(points)
        self._refresh()
        how = "from the cache" if cached else f"computed in {embed_s:.1f} s"
        self._say(f"Image embedding {how}. " + self._summary())

    def _repr_mimebundle_(self, **kwargs):  # display(widget) shows the UI
        return self.ui._repr_mimebundle_(**kwargs)

    @property
    def hole_mask(self) -> torch.Tensor | None:
        """The current hole mask (1, H, W) in {0, 1} at the slider's margin, or None before the first positive click."""
        try:
            return self.segmenter.mask(self.margin.value)
        except BadInputError:
            return None

    def _summary(self) -> str:
        clicks = self.segmenter.clicks
        n_pos = sum(c.label == 1 for c in clicks)
        plural = "s" if len(clicks) != 1 else ""
        text = f"{len(clicks)} click{plural} ({n_pos} positive, {len(clicks) - n_pos} negative)"
        m = self.hole_mask
        if m is not None:
            text += f"; hole {int(m.sum())} px ({100 * float(m.mean()):.1f} %), SAM score {self.segmenter.score:.2f}"
        if self._last_ms is not None:
            text += f"; last click {self._last_ms:.0f} ms"
        return text

    def _say(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "inherit"
        self.status.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def _guard(self, fn, *args) -> None:
        """Run a callback; show user errors in the status line instead of losing them in the log."""
        try:
            fn(*args)
        except TripleDotsError as exc:
            self._say(f"{exc}", error=True)
        except Exception as exc:  # noqa: BLE001 - a widget callback has no other place to report
            self._say(f"{type(exc).__name__}: {exc}", error=True)
            raise

    def _refresh(self) -> None:
        seg = self.segmenter
        self.photo.value = encode_image(_draw(seg.image, self.hole_mask, seg.clicks, self.scale), "PNG")
        self._say(self._summary())

    def handle_event(self, event: dict) -> None:
        """ipyevents callback: ``dataX/dataY`` are pixels of the shown image; shift/right click = negative."""
        if event.get("type") not in (None, "click", "contextmenu"):
            return
        negative = bool(event.get("shiftKey")) or event.get("type") == "contextmenu" or self.mode.value == NEGATIVE
        x, y = float(event["dataX"]) / self.scale, float(event["dataY"]) / self.scale
        self._guard(self.click, x, y, 0 if negative else 1)

    def click(self, x: float, y: float, label: int = 1) -> torch.Tensor:
        """Add a click at photo pixel ``(x, y)``; returns the new hole mask (1, H, W)."""
        t0 = time.perf_counter()
        self.segmenter.add_click(x, y, label)
        self._last_ms = 1000 * (time.perf_counter() - t0)
        self._refresh()
        return self.segmenter.mask(self.margin.value)

    def apply_points(self, points: Sequence[Sequence[float]]) -> torch.Tensor:
        """Replace the clicks by ``points`` [(x, y, label), ...]; returns the hole mask."""
        self.segmenter.segment(points)
        self._refresh()
        return self.segmenter.mask(self.margin.value)

    def undo(self) -> None:
        """Remove the last click."""
        self.segmenter.undo()
        self._refresh()

    def reset(self) -> None:
        """Remove every click and the regenerated result."""
        self.segmenter.reset()
        self.result = None
        self.comparison.layout.display = "none"
        self._refresh()

    def _require_mask(self) -> torch.Tensor:
        m = self.hole_mask
        if m is None:
            raise BadInputError("no mask yet: click on the face mask first (a positive click)")
        return m

    def regenerate(self) -> torch.Tensor:
        """Run the inpainter on the current hole; shows before / after and returns the result (3, H, W)."""
        if self.inpaint is None:
            raise BadInputError("no inpainter was given to the widget (pass inpaint=tfill.inpaint)")
        m = self._require_mask()
        self._say("Regenerating ...")
        photo = from_uint8(self.segmenter.image)
        t0 = time.perf_counter()
        self.result = regenerate(photo, m, self.inpaint, size=self.inpaint_size)
        grid = image_grid([[overlay_mask(photo, m), self.result]], col_labels=["before (hole in red)", "after"],
                          cell=min(512, max(photo.shape[-2:])))
        self.comparison.value = encode_image(grid, "PNG")
        self.comparison.layout.display = ""
        self._say(self._summary() + f"; regenerated in {time.perf_counter() - t0:.1f} s")
        return self.result

    def save_mask(self) -> Path:
        """Write the hole mask to ``out_dir/masks/NAME.png`` (255 = hole), its clicks to ``out_dir/meta/NAME.json``."""
        m = self._require_mask()
        seg = self.segmenter
        h, w = seg.size
        prompts = {"points": [[round(c.x, 2), round(c.y, 2), c.label] for c in seg.clicks],
                   "box": list(seg.box) if seg.box else None, "score": seg.score,
                   "model_fingerprint": seg.model_fingerprint()}
        meta = Meta(source=self.name, mask_type="real", margin=int(self.margin.value), hole_ratio=hole_ratio(m),
                    image_size=(w, h), extra={"segmenter": prompts})
        path = self.out_dir / MASKS_DIR / f"{self.name}.png"
        overwrite = bool(self.overwrite.value)
        meta_path = self.out_dir / META_DIR / f"{self.name}.json"
        if not overwrite:  # both files are checked first, so neither is written when one exists
            for p in (path, meta_path):
                if p.exists():
                    raise OutputExistsError(f"{where(p)} already exists; tick 'overwrite existing files' to replace it")
        write_mask(path, m, overwrite=overwrite)
        write_meta(meta_path, meta, overwrite=overwrite)
        self._say(self._summary() + f"; saved mask to {path}")
        return path

    def save_result(self) -> Path:
        """Write the regenerated photo to ``out_dir/results/NAME.png`` (run Regenerate first)."""
        if self.result is None:
            raise BadInputError("nothing regenerated yet: press Regenerate first")
        path = self.out_dir / "results" / f"{self.name}.png"
        write_image(path, self.result, overwrite=bool(self.overwrite.value))
        self._say(self._summary() + f"; saved result to {path}")
        return path
