"""The demo behind ``triple-dots demo``: the whole pipeline on the sample photos, no download.

1. mask synthesis (:func:`triple_dots.masks.synthesize_folder`) -> ``OUT/1_masked``;
2. preprocessing: the untouched photos paired with those masks (``OUT/2_originals``), both sets cut to a
   face-centred ``size`` square (``OUT/3_masked_<size>``, ``OUT/3_truth_<size>``);
3. inpainting (``OUT/4_results``): TFill FFHQ when its weights are present, else the labelled OpenCV Telea baseline;
4. ``OUT/grid.png`` and ``OUT/metrics.{md,json}`` (PSNR/SSIM, whole picture and hole, against the unmasked photo).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from triple_dots import weights
from triple_dots.devices import check_device
from triple_dots.errors import BadInputError, MissingWeightsError, OutputExistsError, where
from triple_dots.files import LOCK_NAME, atomic_write_text, check_apart
from triple_dots.images import list_images, read_image, read_mask, write_image
from triple_dots.samples import sample_dir
from triple_dots.viz import image_grid, overlay_mask, save_grid

TELEA_LABEL = "OpenCV Telea baseline (not TFill)"


@dataclass
class DemoResult:
    """What the demo produced: the method used, per-photo metrics, and the files written."""

    method: str
    used_tfill: bool
    out: Path
    grid: Path
    metrics_md: Path
    metrics_json: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _load_model(weights_dir: Path | None, device: str) -> tuple[Any, str]:
    """The TFill FFHQ model, or (None, reason) when its files are missing and none were named."""
    from triple_dots.stand_ins import is_stand_in
    from triple_dots.tfill import TFill

    if weights_dir is not None:  # the user asked for these weights: missing ones are an error
        fake = ", STAND-IN random weights, not the release" * is_stand_in(weights_dir)
        return TFill.from_official(weights_dir, device=device), f"TFill ({Path(weights_dir).name}{fake})"
    try:
        folder = weights.locate("tfill-ffhq")
    except MissingWeightsError as exc:
        return None, str(exc)
    label = "FFHQ, STAND-IN random weights, not the release" if is_stand_in(folder) else "FFHQ, released checkpoint"
    return TFill.from_official(folder, preset="ffhq", device=device), f"TFill ({label})"


#: what one demo run writes into its folder; a re-run replaces exactly these and keeps anything else
DEMO_ENTRIES = ("1_masked", "2_originals", "4_results", "grid.png", "metrics.md", "metrics.json")
DEMO_PATTERNS = ("3_masked_*", "3_truth_*")


def _clear_earlier_demo(out: Path, overwrite: bool) -> list[Path]:
    """Move an earlier demo's own entries aside (returned, to delete once the new run is written); a folder
    holding other files but no demo is refused unless ``overwrite``."""
    if not out.is_dir():
        return []
    try:
        is_demo = "used_tfill" in json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        is_demo = False
    earlier = []
    if is_demo:
        earlier = [out / name for name in DEMO_ENTRIES if (out / name).exists()]
        earlier += sorted(p for pat in DEMO_PATTERNS for p in out.glob(pat))
    others = [p for p in out.iterdir() if p not in earlier and not p.name.startswith(".demo-old-")
              and p.name != LOCK_NAME]
    if others and not earlier and not overwrite:
        raise OutputExistsError(
            f"{where(out)} is not empty and holds no earlier demo; pass --out to choose another folder "
            "(or --overwrite to write the demo's files among yours)"
        )
    if not earlier:
        return []
    trash = Path(tempfile.mkdtemp(prefix=".demo-old-", dir=out))
    for p in earlier:
        p.rename(trash / p.name)
    return [trash]


def next_steps(used_tfill: bool, method: str, n: int, out: Path) -> str:
    """The demo's closing block (markdown): what it did, what it used, and the exact next step."""
    did = (f"Drew a surgical mask on {n} sample photo{'s' * (n != 1)}, cut 512x512 face squares and regenerated "
           f"the face under the mask with **{method}**. Picture: `{out / 'grid.png'}`.")
    if used_tfill:
        nxt = ("Next: remove a real mask from your own photo - `.venv/bin/jupyter lab notebooks/` and open "
               "`06_sam_click_to_segment`, or `.venv/bin/triple-dots segment --auto MY_PHOTOS/ OUT/` then "
               "`.venv/bin/triple-dots inpaint --images OUT/images --masks OUT/masks --out RESULTS/`.")
    else:
        nxt = ("This was the classical OpenCV Telea baseline, not TFill: its weights are not on this machine. "
               "Next step, to see TFill do it:\n\n```\n" + weights.how_to_get("tfill-ffhq")
               + "\n```\n\nthen run `.venv/bin/triple-dots demo` again.")
    return did + "\n\n" + nxt


def _markdown(rows: list[dict[str, Any]], method: str, means: dict[str, float], size: int) -> str:
    lines = [
        f"# triple-dots demo: {method}",
        "",
        f"{len(rows)} photos, {size}x{size} face crops, surgical masks drawn by the mask-synthesis stage.",
        "Ground truth = the same photo before the mask was drawn. PSNR in dB (higher is better), SSIM in [0, 1].",
        "",
        "| photo | hole % | PSNR | PSNR (hole) | SSIM | SSIM (hole) | known pixels unchanged |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in [*rows, {"name": "**mean**", **means}]:  # the mean row leaves "known pixels unchanged" empty
        unchanged = {True: " yes", False: " NO"}.get(r.get("known_unchanged"), "")
        lines.append(
            f"| {r['name']} | {100 * r['hole_ratio']:.1f} | {r['psnr']:.2f} | {r['psnr_hole']:.2f} | "
            f"{r['ssim']:.4f} | {r['ssim_hole']:.4f} |{unchanged} |"
        )
    return "\n".join(lines) + "\n"


def _by_stem(folder: Path, stem: str) -> Path:
    """The file of ``folder`` named ``stem.<ext>`` (compared literally: ``me[1]`` is a name, not a pattern)."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.stem == stem)
    if not found:
        raise BadInputError(f"{where(folder)} has no file named {stem!r} with any extension")
    return found[0]


def run_demo(
    *,
    images: str | Path | None = None,
    out: str | Path = Path("outputs/demo"),
    weights: str | Path | None = None,
    overwrite: bool = False,
    size: int = 512,
    mask_type: str = "surgical",
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
) -> DemoResult:
    """Run the demo pipeline on ``images`` (default: the bundled samples); returns what it wrote.

    ``weights``: a TFill checkpoint folder; default: the registry's ``tfill-ffhq``, else the Telea baseline.
    """
    from triple_dots.evaluation.generate import telea
    from triple_dots.evaluation.paired import pair_scores
    from triple_dots.masks import synthesize_folder
    from triple_dots.preprocess import pair, resize

    src = Path(images) if images is not None else sample_dir()
    if not src.exists():
        raise BadInputError(f"{where(src)} does not exist")
    out, photos_dir = Path(out), src if src.is_dir() else src.parent
    check_apart(out, [photos_dir], what="demo output folder (--out)")
    if not (isinstance(size, int) and 16 <= size <= 8192):
        raise BadInputError(f"size (--size) must be a whole number of pixels in 16..8192, got {size!r}")
    if device != "auto":
        check_device(device)
    old_run = _clear_earlier_demo(out, overwrite)
    dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device

    model, reason = _load_model(Path(weights) if weights is not None else None, dev)
    method = reason if model is not None else TELEA_LABEL
    if model is None:
        print(f"TFill weights not found, showing the {TELEA_LABEL} instead: {reason}")

    print("step 1/4: drawing masks")
    report = synthesize_folder(src, out / "1_masked", mask_type=mask_type, seed=seed, overwrite=overwrite,
                               progress=progress)
    print(f"  {report.summary()}")
    if not list_images(out / "1_masked" / "images"):
        raise BadInputError(f"no face was found in any photo of {where(src)}; nothing to demonstrate")

    print("step 2/4: pairing the untouched photos with the masks, cutting face-centred squares")
    kw = dict(overwrite=overwrite, progress=progress)
    pair(photos_dir, out / "2_originals", masks=out / "1_masked" / "masks", meta=out / "1_masked" / "meta", **kw)
    masked_dir, truth_dir = out / f"3_masked_{size}", out / f"3_truth_{size}"
    resize(out / "1_masked", masked_dir, size=size, fit="face", **kw)
    resize(out / "2_originals", truth_dir, size=size, fit="face", **kw)

    print(f"step 3/4: inpainting with {method}")
    results_dir = out / "4_results"
    rows: list[dict[str, Any]] = []
    grid_rows: list[list[torch.Tensor]] = []
    for mask_path in tqdm(sorted((masked_dir / "masks").glob("*.png")), desc="inpainting", disable=not progress):
        name = mask_path.stem
        masked = read_image(_by_stem(masked_dir / "images", name))
        truth = read_image(_by_stem(truth_dir / "images", name))
        hole = read_mask(mask_path)
        if model is not None:
            result = model.inpaint(masked[None].to(dev), hole[None].to(dev), seed=seed)[0].cpu()
        else:
            result = telea(masked, hole)
        write_image(results_dir / f"{name}.png", result, overwrite=overwrite)
        known = hole[0] == 0
        scores = pair_scores(result, truth, hole)
        rows.append({
            "name": name,
            "hole_ratio": float(hole.mean()),
            **{k: v for k, v in scores.as_dict().items() if v is not None},
            "known_unchanged": bool(torch.equal(result[:, known], masked[:, known])),
        })
        grid_rows.append([truth, masked, overlay_mask(masked, hole), result])

    print("step 4/4: writing the grid and the metrics")
    grid = image_grid(grid_rows, col_labels=["photo", "wearing a mask", "hole mask", method[:40]],
                      row_labels=[r["name"] for r in rows])
    grid_path = save_grid(out / "grid.png", grid, overwrite=overwrite)
    keys = ("hole_ratio", "psnr", "psnr_hole", "ssim", "ssim_hole")
    means = {k: sum(r[k] for r in rows) / len(rows) for k in keys}
    closing = next_steps(model is not None, method, len(rows), out)
    md = _markdown(rows, method, means, size) + "\n## What happened, and what to do next\n\n" + closing + "\n"
    md_path = atomic_write_text(out / "metrics.md", md, overwrite=overwrite)
    payload = {"method": method, "used_tfill": model is not None, "size": size, "mask_type": mask_type,
               "seed": seed, "photos": rows, "mean": means, "skipped": report.skipped_bad}
    json_path = atomic_write_text(out / "metrics.json", json.dumps(payload, indent=2) + "\n", overwrite=overwrite)
    for trash in old_run:  # the new demo is complete: the earlier one's files can go
        shutil.rmtree(trash, ignore_errors=True)
    print(md)
    print(f"wrote {grid_path}, {md_path} and {json_path}")
    return DemoResult(method, model is not None, out, grid_path, md_path, json_path, rows, report.skipped_bad)
