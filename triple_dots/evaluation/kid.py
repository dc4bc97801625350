"""Kernel Inception Distance: unbiased MMD² with the kernel (x·y / d + 1)³, unlike FID unbiased for small sets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triple_dots.errors import BadInputError


@dataclass(frozen=True)
class KIDResult:
    """KID mean and standard deviation over subsets (same units as MMD², lower is better)."""

    mean: float
    std: float
    subset_size: int
    n_subsets: int

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.std:.4f}"


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(n, d), (m, d) -> (n, m) kernel matrix (x·y / d + 1)³."""
    return (1.0 / x.shape[1] * (x @ y.T) + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD² (diagonals left out) between samples x (m, d) and y (n, d) with :func:`polynomial_kernel`."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise BadInputError(f"KID needs at least 2 images per set, got {m} and {n}")
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kid_from_activations(
    acts_a: np.ndarray,
    acts_b: np.ndarray,
    *,
    subset_size: int | None = None,
    n_subsets: int = 100,
    seed: int = 0,
) -> KIDResult:
    """KID between activation sets (N_a, d) and (N_b, d), over seeded subsets drawn without replacement.

    ``subset_size`` default: 1000 when both sets have >= 2000 images, else half the smaller set (so
    subsets differ and the std means something); it is capped at the smaller set size.
    """
    acts_a = np.asarray(acts_a, dtype=np.float64)
    acts_b = np.asarray(acts_b, dtype=np.float64)
    if acts_a.ndim != 2 or acts_b.ndim != 2 or acts_a.shape[1] != acts_b.shape[1]:
        raise BadInputError(f"activation sets must be (N, d) with equal d, got {acts_a.shape} and {acts_b.shape}")
    n_min = min(len(acts_a), len(acts_b))
    if subset_size is None:
        subset_size = 1000 if n_min >= 2000 else max(2, n_min // 2)
    size = min(subset_size, n_min)
    if size < 2:
        raise BadInputError(f"KID needs at least 2 images per set, got {len(acts_a)} and {len(acts_b)}")
    rng = np.random.default_rng(seed)
    vals = np.empty(n_subsets)
    for i in range(n_subsets):
        xa = acts_a[rng.choice(len(acts_a), size, replace=False)]
        xb = acts_b[rng.choice(len(acts_b), size, replace=False)]
        vals[i] = mmd2_unbiased(xa, xb)
    return KIDResult(float(vals.mean()), float(vals.std()), size, n_subsets)
