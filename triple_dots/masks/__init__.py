"""Mask synthesis: procedural medical masks drawn on real faces (:func:`apply_mask`, :func:`synthesize_folder`), each
with an exact hole mask (1 = hole) covering every pixel the drawing changed.
"""

from triple_dots.masks.landmarks import Face, detect_faces
from triple_dots.masks.pictures import Coverage, check_coverage, coverage_picture, draw_landmarks
from triple_dots.masks.shapes import MASK_TYPES, TYPE_CHOICES
from triple_dots.masks.synthesize import FolderReport, MaskedFace, apply_mask, synthesize_folder

__all__ = ["MASK_TYPES", "TYPE_CHOICES", "Coverage", "Face", "FolderReport", "MaskedFace", "apply_mask",
           "check_coverage", "coverage_picture", "detect_faces", "draw_landmarks", "synthesize_folder"]
