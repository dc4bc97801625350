"""The real path at full model size, on CPU, against stand-in weights (random, at the released shapes).

SMOKE mode only ever builds tiny random models. Here every notebook runs with ``SMOKE = False`` and every
command that loads a model runs once, with ``TRIPLE_DOTS_HOME`` pointing at stand-ins written by
``triple_dots.stand_ins.write_stand_ins``: TFill at the released width (FFHQ), SAM vit_b, the FID
Inception, VGG16 (LPIPS loss) and AlexNet (LPIPS metric). Sizes are real (512 px, 1024 px SAM
embedding); only the amounts are small: a few images, one training step per stage, one SAM embedding.
A shape, dtype, path or loading bug of the real path fails here instead of at the first user.

Whatever reports quality must say it met stand-ins: the reports are checked for the label.
Run it with ``pytest -m slow tests/test_full_size.py`` (part of the full suite in CI).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
STAND_IN_KEYS = ["tfill-ffhq", "sam-vit_b", "fid-inception", "vgg16", "alexnet", "mat-celeba-hq-512"]

#: SMOKE = False plus the size parameters that keep each notebook small but at full model size.
FULL_SIZE_PARAMETERS: dict[str, dict] = {
    "00_setup": {},
    "01_mask_synthesis": {"FOLDER_PHOTOS": 2, "WORKERS": 1},
    "02_preprocessing": {"SIZE": 512, "WORKERS": 1, "N_GENERATED": 20},
    "03_tfill_model": {"SIZE": 512, "DEVICE": "cpu"},
    "04_training": {"ITERATIONS": 1, "BATCH_SIZE": 1},
    "05_evaluation": {"SIZE": 256, "DEVICE": "cpu", "FID_DIMS": 2048, "N_DEMO": [16, 50]},
    "06_sam_click_to_segment": {"INPAINT_SIZE": 512},
    "07_personalise": {"ITERATIONS": 1, "BATCH_SIZE": 1, "SIZE": 512, "DEVICE": "cpu"},
    "08_model_choice": {"DEVICE": "cpu"},
}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="session")
def stand_in_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Stand-ins for every model the course loads, written once per session."""
    from triple_dots.stand_ins import write_stand_ins

    home = tmp_path_factory.mktemp("stand_in_home")
    write_stand_ins(home, STAND_IN_KEYS, log=None)
    return home


@pytest.fixture()
def at_stand_ins(stand_in_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process and every kernel/subprocess it starts find the stand-ins and only them."""
    monkeypatch.setenv("TRIPLE_DOTS_HOME", str(stand_in_home))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_torch_hub"))  # a real torch-hub file must not win
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    return stand_in_home


@pytest.fixture(scope="session")
def full_size_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three sample photos with synthetic surgical-mask holes, face-centred 512 px squares, split 2 train / 1 val."""
    from triple_dots.masks import synthesize_folder
    from triple_dots.preprocess.pair import pair
    from triple_dots.preprocess.resize import resize
    from triple_dots.samples import sample_paths

    root = tmp_path_factory.mktemp("full_size_data")
    photos = root / "photos"
    photos.mkdir()
    for p in sample_paths()[:3]:
        (photos / p.name).write_bytes(p.read_bytes())
    synthesize_folder(photos, root / "masked", mask_type="surgical", seed=0, progress=False)
    pair(photos, root / "paired", masks=root / "masked" / "masks", meta=root / "masked" / "meta", progress=False)
    resize(root / "paired", root / "data", size=512, fit="face", progress=False)
    return root / "data"


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the kernels), a load-independent budget figure."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def test_every_registry_file_is_a_marked_stand_in(at_stand_ins: Path) -> None:
    from triple_dots import weights
    from triple_dots.stand_ins import is_stand_in

    for key in STAND_IN_KEYS:
        assert is_stand_in(weights.locate(key)), key


@pytest.mark.parametrize("stem", sorted(FULL_SIZE_PARAMETERS))
def test_notebook_runs_at_full_size(stem: str, at_stand_ins: Path, tmp_path: Path) -> None:
    papermill = pytest.importorskip("papermill")
    out_dir = tmp_path / "out"
    start, cpu = time.perf_counter(), _cpu_seconds()
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{stem}.ipynb"), str(tmp_path / f"{stem}.ipynb"),
        parameters={"SMOKE": False, "OUT_DIR": str(out_dir), **FULL_SIZE_PARAMETERS[stem]},
        kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False, execution_timeout=500,
    )
    print(f"{stem}: {time.perf_counter() - start:.0f} s wall, {_cpu_seconds() - cpu:.0f} s CPU")
    if stem == "05_evaluation":
        report = (out_dir / "report" / "report.md").read_text()
        assert "STAND-IN TFill checkpoint" in report and "NOT the official FID Inception weights" in report
        assert "NOT the ImageNet backbone" in report
    if stem == "08_model_choice":
        report = (out_dir / "report" / "report.md").read_text()
        assert "STAND-IN TFill checkpoint" in report and "STAND-IN MAT weights" in report
    if stem == "07_personalise":
        report = (out_dir / "report" / "report.md").read_text()
        assert "STAND-IN TFill checkpoint" in report and "NOT the official FID Inception weights" in report


def _cli(args: list[str]) -> None:
    from triple_dots.cli import main

    start, cpu = time.perf_counter(), _cpu_seconds()
    assert main(args) == 0, args
    print(f"triple-dots {args[0]}: {time.perf_counter() - start:.0f} s wall, {_cpu_seconds() - cpu:.0f} s CPU")


def test_cli_inpaint_at_full_size(at_stand_ins: Path, full_size_data: Path, tmp_path: Path) -> None:
    from triple_dots.images import read_image

    names = sorted(p.stem for p in (full_size_data / "masks").iterdir())[:2]
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    for n in names:
        src = next((full_size_data / "images").glob(f"{n}.*"))
        (images / src.name).write_bytes(src.read_bytes())
        (masks / f"{n}.png").write_bytes((full_size_data / "masks" / f"{n}.png").read_bytes())
    _cli(["inpaint", "--images", str(images), "--masks", str(masks), "--out", str(tmp_path / "out"),
          "--seed", "0", "--device", "cpu"])
    for n in names:
        assert read_image(tmp_path / "out" / f"{n}.png").shape == (3, 512, 512)


def test_cli_demo_labels_the_stand_in(at_stand_ins: Path, tmp_path: Path) -> None:
    from triple_dots.samples import sample_paths

    photos = tmp_path / "photos"
    photos.mkdir()
    p = sample_paths()[0]
    (photos / p.name).write_bytes(p.read_bytes())
    _cli(["demo", "--images", str(photos), "--out", str(tmp_path / "demo"), "--device", "cpu"])
    assert "STAND-IN" in (tmp_path / "demo" / "metrics.md").read_text()


def test_cli_train_one_step_per_stage_at_512(at_stand_ins: Path, full_size_data: Path, tmp_path: Path) -> None:
    import torch

    from triple_dots.training.run_folder import list_checkpoints, read_log

    run = tmp_path / "run"
    _cli(["train", "--data", str(full_size_data), "--out", str(run), "--stage", "both", "--iterations", "1",
          "--batch-size", "1", "--fine-size", "512", "--val-every", "1", "--ckpt-every", "1", "--log-every", "1",
          "--device", "cpu", "--seed", "0"])
    log = [r for r in read_log(run) if "loss_g" in r]
    assert {r["stage"] for r in log} == {"coarse", "refine"}
    assert all(torch.isfinite(torch.tensor(r["loss_g"])) for r in log)
    assert list_checkpoints(run)


def test_cli_evaluate_report_with_stand_in_metrics(at_stand_ins: Path, full_size_data: Path, tmp_path: Path) -> None:
    from triple_dots import weights

    report = tmp_path / "report"
    _cli(["evaluate", "--data", str(full_size_data), "--models", f"base={weights.locate('tfill-ffhq')}",
          "--max-images", "3", "--dims", "2048", "--out", str(report), "--device", "cpu", "--no-cache"])
    text = (report / "report.md").read_text()
    assert "STAND-IN TFill checkpoint" in text
    assert "NOT the official FID Inception weights" in text and "NOT the ImageNet backbone" in text


def test_cli_segment_point_with_stand_in_sam(at_stand_ins: Path, full_size_data: Path, tmp_path: Path) -> None:
    photo = sorted((full_size_data / "images").iterdir())[0]
    _cli(["segment", "--point", "256,330", "--point", "256,150,0", "--device", "cpu", str(photo),
          str(tmp_path / "seg")])
    assert (tmp_path / "seg" / "masks" / f"{photo.stem}.png").exists()
