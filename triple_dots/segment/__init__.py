"""Segment Anything click-to-segment: cut the real face mask out of a photo as a hole mask (1 = hole), with clicks
(:class:`ClickSegmenter`, the notebook UI ``triple_dots.segment.widget``) or face keypoints (:func:`segment_folder`),
then regenerate the face (:func:`regenerate`).
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

__all__ = ["Click", "ImplausibleHoleError", "ClickSegmenter", "auto_points", "clean_mask", "hole_problems",
           "keypoint_points", "load_sam", "model_type_of", "regenerate", "save_random_sam", "segment_folder",
           "segment_photo"]
