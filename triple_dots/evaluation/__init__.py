"""Evaluation: FID, KID, LPIPS / PSNR / SSIM (whole image and hole), identity, mask-ratio bands, reports.

Images are (3, H, W) float tensors in [0, 1]; hole masks (1, H, W) in {0, 1}, 1 = hole.
Import the submodules directly, e.g. ``from triple_dots.evaluation.report import evaluate_models``.
"""
