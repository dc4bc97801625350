"""Preprocessing commands (convert, resize, pair, enlarge, stats, split): each reads an input folder and
writes a *new* output folder, never changing an input file (rules: :mod:`triple_dots.preprocess.folders`).
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
