"""Segment Anything click-to-segment: cut the real face mask out of a photo, then regenerate the face.

* :func:`load_sam` - vit_b / vit_l / vit_h from the weights registry or a file.
* :class:`ClickSegmenter` - clicks (+ box) -> hole mask (1, H, W) in {0, 1}, 1 = hole; one embedding per photo.
* :func:`keypoint_points`, :func:`segment_photo`, :func:`segment_folder` - prompts from face keypoints, no clicks;
  :func:`hole_problems` rejects holes that do not look like a worn mask.
* :class:`SegmentWidget` (``triple_dots.segment.widget``) - the ipywidgets UI used by notebook 06.
* :func:`regenerate` - inpaint the hole at the photo's own resolution.
"""

from triple_dots.segment.auto import (
    ImplausibleHoleError,
    auto_points,
    hole_problems,
    keypoint_points,
    segment_folder,
    segment_photo,
)
from triple_dots.segment.clicks import Click, ClickSegmenter, clean_mask
from triple_dots.segment.regenerate import regenerate
from triple_dots.segment.sam import load_sam, model_type_of, save_random_sam

__all__ = [
    "Click",
    "ImplausibleHoleError",
    "ClickSegmenter",
    "auto_points",
    "clean_mask",
    "hole_problems",
    "keypoint_points",
    "load_sam",
    "model_type_of",
    "regenerate",
    "save_random_sam",
    "segment_folder",
    "segment_photo",
]
