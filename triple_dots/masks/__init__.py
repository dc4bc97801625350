"""Mask synthesis: MaskTheFace-style medical masks drawn on real faces, with exact hole masks.

``apply_mask(image, mask_type)`` detects faces (dlib HOG + YuNet, 68 landmarks), draws a procedural
mask on each and returns the photo with a hole mask (1 = hole) that covers every pixel
the drawing changed. ``synthesize_folder`` does the same for a folder of photos.
"""

from triple_dots.masks.landmarks import Face, detect_faces
from triple_dots.masks.pictures import Coverage, check_coverage, coverage_picture, draw_landmarks
from triple_dots.masks.shapes import MASK_TYPES, TYPE_CHOICES
from triple_dots.masks.synthesize import FolderReport, MaskedFace, apply_mask, synthesize_folder

__all__ = ["MASK_TYPES", "TYPE_CHOICES", "Coverage", "Face", "FolderReport", "MaskedFace", "apply_mask",
           "check_coverage", "coverage_picture", "detect_faces", "draw_landmarks", "synthesize_folder"]
