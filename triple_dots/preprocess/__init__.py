"""Preprocessing commands: each reads an input folder and writes a *new* output folder.

``convert`` (photos to JPEG/PNG), ``resize`` (square by crop or pad), ``pair`` (matched
photo/mask pairs only, unmatched files listed), ``enlarge`` (grow holes), ``stats`` (hole-ratio
histogram and bands) and ``split`` (train/val/test, optionally grouped). None of them deletes
or changes an input file; see :mod:`triple_dots.preprocess.folders` for the shared rules.
"""

from triple_dots.preprocess.convert import convert
from triple_dots.preprocess.enlarge import dilate_by_face, enlarge, enlarge_mask, scale_holes
from triple_dots.preprocess.folders import Summary
from triple_dots.preprocess.pair import pair
from triple_dots.preprocess.resize import fit_meta, resize
from triple_dots.preprocess.split import assign_splits, group_by_regex, split
from triple_dots.preprocess.stats import StatsResult, band_counts, parse_band, stats

__all__ = [
    "StatsResult",
    "Summary",
    "assign_splits",
    "band_counts",
    "convert",
    "dilate_by_face",
    "enlarge",
    "enlarge_mask",
    "fit_meta",
    "group_by_regex",
    "pair",
    "parse_band",
    "resize",
    "scale_holes",
    "split",
    "stats",
]
