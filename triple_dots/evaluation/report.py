"""A report for any set of models on the same test set (+ the OpenCV Telea baseline): JSON, markdown and a grid."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from triple_dots.errors import BadInputError, OutputExistsError, where
from triple_dots.evaluation.bands import DEFAULT_BANDS
from triple_dots.evaluation.fid import SMALL_SET_WARNING
from triple_dots.evaluation.generate import MAT_SUFFIXES, generate_model, generate_telea, model_kind
from triple_dots.evaluation.metrics import HIGHER_IS_BETTER, METRIC_GROUPS, Evaluator, ModelResult
from triple_dots.evaluation.testset import TestSet
from triple_dots.files import atomic_write_text, check_apart
from triple_dots.images import list_images, read_image
from triple_dots.stand_ins import is_stand_in
from triple_dots.viz import image_grid, overlay_mask, save_grid

BASELINE = "telea"
REPORT_FILES = ("report.json", "report.md", "grid.png")

_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (summary key, header, format)
    ("fid", "FID ↓", "{:.2f}"),
    ("kid", "KID×10³ ↓", ""),
    ("lpips", "LPIPS ↓", "{:.4f}"),
    ("lpips_hole", "LPIPS hole ↓", "{:.4f}"),
    ("psnr", "PSNR ↑", "{:.2f}"),
    ("psnr_hole", "PSNR hole ↑", "{:.2f}"),
    ("ssim", "SSIM ↑", "{:.4f}"),
    ("ssim_hole", "SSIM hole ↑", "{:.4f}"),
    ("identity", "identity ↑", "{:.4f}"),
)


def strict_json_value(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON ``null``), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: strict_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json_value(v) for v in value]
    return value


def report_json(report: Mapping[str, Any]) -> str:
    """The report as strict JSON (no bare NaN/Infinity, which strict parsers reject)."""
    return json.dumps(strict_json_value(report), indent=2, default=str, allow_nan=False) + "\n"


def _fmt(summary: Mapping[str, Any], key: str, fmt: str) -> str:
    if key == "kid":  # KID x 10^3 with its spread over subsets
        if summary.get("kid_mean") is None:
            return "–"
        return f"{1e3 * summary['kid_mean']:.2f} ± {1e3 * summary['kid_std']:.2f}"
    v = summary.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return fmt.format(v)


def small_set_note(n: int) -> str:
    """The warning every report carries about FID on small test sets."""
    prefix = "**Warning: small test set.** " if n < SMALL_SET_WARNING else ""
    return prefix + (
        f"N = {n} test image{'s' if n != 1 else ''}. "
        "FID estimates a 2048×2048 covariance from N images: with fewer than ~50 images it is "
        "mostly noise and biased upward (it depends on N), so only compare FIDs computed at the same N, "
        "and do not read much into differences on a small set. KID is unbiased at any N and comes with "
        "its spread over subsets; identity similarity (dlib face embedding, cosine with the true face) "
        "and LPIPS inside the hole say whether the regenerated face still looks like that person."
    )


def markdown(results: Sequence[ModelResult], *, test_source: str, notes: Mapping[str, Any] | None = None,
             reference: str | None = None) -> str:
    """The report as markdown: main table, per-band table, and the notes on N and weights."""
    n = results[0].summary["n"] if results else 0
    cols = [c for c in _COLUMNS if any(_fmt(r.summary, c[0], c[2]) != "–" for r in results)]
    lines = ["# Evaluation report", "", f"Test set: `{test_source}`, **N = {n}**.", ""]
    lines += ["| model | N | " + " | ".join(h for _, h, _ in cols) + " |",
              "|---|---:|" + "---:|" * len(cols)]
    for r in results:
        lines.append(f"| {r.name} | {r.summary['n']} | " + " | ".join(_fmt(r.summary, k, f) for k, _, f in cols) + " |")
    if reference and len(results) > 1:
        ref = next((r for r in results if r.name == reference), None)
        if ref is not None:
            delta_cols = [(k, h) for k, h, _ in cols if k != "kid"]
            lines += ["", f"Change against `{reference}` (positive = better):", "",
                      "| model | " + " | ".join(h for _, h in delta_cols) + " |", "|---|" + "---:|" * len(delta_cols)]
            for r in results:
                if r.name == reference:
                    continue
                cells = ["–" if r.summary.get(k) is None or ref.summary.get(k) is None else
                         f"{(r.summary[k] - ref.summary[k]) * (1 if HIGHER_IS_BETTER[k] else -1):+.4g}"
                         for k, _ in delta_cols]
                lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    band_keys = [k for k in ("lpips_hole", "psnr_hole", "ssim_hole", "identity") if any(
        r.bands and any(b.get(k) is not None for b in r.bands.values()) for r in results)]
    if results and results[0].bands:
        lines += ["", "## By mask-ratio band (hole share of the image)", "",
                  "| model | band | n | KID×10³ | " + " | ".join(band_keys) + " |",
                  "|---|---|---:|---:|" + "---:|" * len(band_keys)]
        for r in results:
            for label, _, _ in DEFAULT_BANDS:
                b = r.bands.get(label, {})
                if not b.get("n"):
                    continue
                cells = [_fmt(b, "kid", ""), *("–" if b.get(k) is None else f"{b[k]:.4f}" for k in band_keys)]
                lines.append(f"| {r.name} | {label} | {b['n']} | " + " | ".join(cells) + " |")
    lines += ["", "## How to read this", "", small_set_note(n), ""]
    notes = dict(notes or {})
    fw = notes.get("fid_weights")
    if fw:
        official = "the official pytorch-fid Inception weights" if fw["official"] else (
            "**NOT the official FID Inception weights** (e.g. a random stand-in): FID/KID here are not comparable "
            "with published numbers")
        lines.append(f"- FID/KID: pytorch-fid InceptionV3, {fw['dims']}-d features, {official} (`{fw['path']}`).")
    lb = notes.get("lpips_backbone")
    if lb:
        official = "ImageNet backbone" if lb["official"] else "**NOT the ImageNet backbone** (stand-in weights)"
        lines.append(f"- LPIPS: lpips 0.1 `{lb['net']}`, {official} (`{lb['path']}`).")
    for name, what in dict(notes.get("stand_in_models", {})).items():
        lines.append(f"- `{name}`: **STAND-IN {what}** (random weights at the released shapes, NOT the "
                     f"release): its numbers say nothing about {what.split()[0]}.")
    if notes.get("identity_model"):
        lines.append(f"- Identity: dlib face-recognition ResNet (`{notes['identity_model']}`), both faces aligned "
                     "with the true photo's 68 landmarks; cosine similarity of 128-d embeddings.")
    lines.append("- PSNR/SSIM: scikit-image, data range 1; *hole* columns count only the regenerated pixels "
                 "(SSIM without the 3-pixel image border, as scikit-image's whole-image mean).")
    identical = {r.name: (r.summary.get("psnr_identical", 0), r.summary.get("psnr_hole_identical", 0))
                 for r in results}
    if any(a or b for a, b in identical.values()):
        cells = ", ".join(f"`{name}` {a} (hole {b})" for name, (a, b) in identical.items() if a or b)
        lines.append(f"- Images identical to the ground truth have infinite PSNR and are left out of the PSNR "
                     f"means: {cells} of N.")
    if notes.get("identity_model"):
        lines.append("- Reading identity: dlib's cosines are compressed. Different people typically score "
                     "0.80-0.88, two photos of one person about 0.95; dlib's own same-person threshold "
                     "(Euclidean distance 0.6) is about 0.91 cosine. A difference of 0.01 is a real change.")
    lines.append(f"- `{BASELINE}` is OpenCV's Telea inpainting, a classical baseline with no learning.")
    return "\n".join(lines) + "\n"


def make_grid(test_set: TestSet, folders: Mapping[str, Path], *, rows: int = 6, cell: int = 192):
    """PIL grid: one row per test image (spread over the set), columns masked / models / ground truth."""
    n = len(test_set)
    idx = list(range(n)) if n <= rows else sorted({round(i * (n - 1) / (rows - 1)) for i in range(rows)})
    indexes = [{p.stem: p for p in reversed(list_images(f, recursive=False))} for f in folders.values()]
    grid_rows = []
    for i in idx:
        img, hole = test_set.load(i)
        found = (ix.get(test_set.names[i]) for ix in indexes)
        masked = overlay_mask(img * (1 - hole) + 0.5 * hole, hole, alpha=0.25)
        grid_rows.append([masked, *(None if p is None else read_image(p) for p in found), img])
    labels = ["masked", *folders.keys(), "ground truth"]
    return image_grid(grid_rows, col_labels=labels, row_labels=[test_set.names[i] for i in idx], cell=cell)


def evaluate_models(
    test_set: str | Path | TestSet,
    models: Mapping[str, str | Path],
    out_dir: str | Path,
    *,
    masks: str | Path | None = None,
    split: str | None = None,
    max_images: int | None = None,
    metrics: Sequence[str] = METRIC_GROUPS,
    baseline: bool = True,
    reference: str | None = None,
    tfill_config: Mapping[str, Any] | None = None,
    grid_rows: int = 6,
    overwrite: bool = False,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    **evaluator_args: Any,
) -> dict[str, Any]:
    """Evaluate several models on one test set; write ``report.json``, ``report.md``, ``grid.png``; return the report.

    ``test_set``: a dataset folder, a folder of photos with ``masks``, or a :class:`TestSet`. ``models``: name ->
    folder of generated images, TFill checkpoint folder or MAT weights file (inpainted into
    ``out_dir/generated/<name>/``). ``metrics``: a subset of :data:`METRIC_GROUPS`; ``baseline``: add OpenCV's
    Telea inpainting as a model; ``reference``: the model of the delta table (default: the first); ``tfill_config``:
    options for TFill checkpoint folders; ``evaluator_args``: passed to :class:`Evaluator`. Everything is checked
    before work starts.
    """
    out = Path(out_dir)
    if not models and not baseline:
        raise BadInputError("no models to evaluate")
    if BASELINE in models and baseline:
        raise BadInputError(f"the model name {BASELINE!r} is reserved for the OpenCV baseline")
    # the report folder must be apart from every input: it gets generated/ subfolders and report files
    inputs = [masks, *models.values()] + ([] if isinstance(test_set, TestSet) else [test_set])
    check_apart(out, inputs, what="report folder (--out)")
    existing = [out / f for f in REPORT_FILES if (out / f).exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{where(existing[0])} already exists; pass overwrite=True / --overwrite to replace it")
    test_set = TestSet.open(test_set, masks=masks, split=split, max_images=max_images)
    kinds = {name: model_kind(path) for name, path in models.items()}
    for name, path in models.items():
        if kinds[name] != "mat" and not Path(path).is_dir():
            raise BadInputError(f"model {name!r}: {where(path)} is not a folder (generated images or a TFill "
                                f"checkpoint) nor a MAT weights file ({', '.join(MAT_SUFFIXES)})")
    ev = Evaluator(test_set, metrics=metrics, device=device, seed=seed, progress=progress, **evaluator_args)
    # folders of generated images are checked before any inpainting
    for name, path in models.items():
        if kinds[name] == "images":
            ev.match_folder(path)
    folders: dict[str, Path] = {
        name: Path(path) if kinds[name] == "images" else generate_model(
            path, test_set, out / "generated" / name, config=tfill_config, seed=seed, device=device,
            overwrite=overwrite, progress=progress)
        for name, path in models.items()}
    if baseline:
        folders[BASELINE] = generate_telea(test_set, out / "generated" / BASELINE, overwrite=overwrite)
    results = [ev.evaluate(name, folder) for name, folder in folders.items()]
    stand_ins = {name: "TFill checkpoint" if kinds[name] == "tfill" else "MAT weights"
                 for name, path in models.items() if kinds[name] != "images" and is_stand_in(path)}
    notes = {**ev.notes, "stand_in_models": stand_ins} if stand_ins else ev.notes
    reference = reference or next(iter(folders))
    report = {
        "test_set": test_set.source,
        "n": len(test_set),
        "names": test_set.names,
        "models": {name: str(p) for name, p in models.items()},
        "note": small_set_note(len(test_set)),
        "settings": notes,
        "reference": reference,
        "results": [r.as_dict() for r in results],
    }
    atomic_write_text(out / "report.json", report_json(report), overwrite=overwrite)
    atomic_write_text(out / "report.md", markdown(results, test_source=test_set.source, notes=notes,
                                                  reference=reference), overwrite=overwrite)
    save_grid(out / "grid.png", make_grid(test_set, folders, rows=grid_rows), overwrite=overwrite)
    return report


def base_vs_personalised(test_set: str | Path | TestSet, base: str | Path, personalised: str | Path,
                         out_dir: str | Path, **kwargs: Any) -> dict[str, Any]:
    """The seed's table in one call: base vs personalised model on the person's test set (+ Telea)."""
    return evaluate_models(test_set, {"base": base, "personalised": personalised}, out_dir, reference="base",
                           **kwargs)
