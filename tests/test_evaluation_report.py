"""Report (several models + Telea on one test set), loss curves, checkpoint sweep and the CLI."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from evaluation_support import fill_folder, make_dataset, make_run, make_tfill_checkpoint, make_weights  # noqa: E402

from triple_dots.errors import BadInputError, OutputExistsError  # noqa: E402
from triple_dots.evaluation import paired  # noqa: E402
from triple_dots.evaluation.curves import loss_terms, plot_loss_curves, read_log, smooth  # noqa: E402
from triple_dots.evaluation.generate import telea  # noqa: E402
from triple_dots.images import read_image, read_mask, write_image, write_mask  # noqa: E402

TINY_IO = {"fixed_size": 64, "fine_size": 64}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalrep")
    ds = make_dataset(root / "ds")
    w = make_weights(root / "w")
    return {"root": root, "ds": ds, "weights": w, "mean": fill_folder(ds, root / "mean", "mean"),
            "noise": fill_folder(ds, root / "noise", "noise"), "ckpt": make_tfill_checkpoint(root / "ckpt"),
            "ev": {**w, "dims": 192, "cache_dir": root / "cache", "kid_subsets": 20}}


@pytest.mark.slow
def test_report_models_folders_and_checkpoint(env, tmp_path):
    from triple_dots.evaluation.report import base_vs_personalised

    out = tmp_path / "rep"
    rep = base_vs_personalised(env["ds"], env["noise"], env["ckpt"], out, tfill_config=TINY_IO, progress=False,
                               **env["ev"])
    assert {p.name for p in out.iterdir()} >= {"report.json", "report.md", "grid.png", "generated"}
    assert rep["n"] == 5 and [r["name"] for r in rep["results"]] == ["base", "personalised", "telea"]
    saved = json.loads((out / "report.json").read_text())
    assert saved["n"] == 5 and saved["reference"] == "base"
    res = {r["name"]: r for r in saved["results"]}
    # TFill outputs were written for the checkpoint model, one per test image, same size
    gen = sorted((out / "generated" / "personalised").glob("*.png"))
    assert [p.stem for p in gen] == rep["names"]
    # per-image numbers equal the library functions on the files
    row = res["base"]["per_image"][2]
    fake = read_image(env["noise"] / f"{row['name']}.png")
    real = read_image(env["ds"] / "images" / f"{row['name']}.png")
    hole = read_mask(env["ds"] / "masks" / f"{row['name']}.png")
    assert row["psnr_hole"] == pytest.approx(paired.psnr(fake, real, hole))
    assert row["ssim"] == pytest.approx(paired.ssim(fake, real))
    assert row["hole_ratio"] == pytest.approx(float(hole.mean()))
    # Telea is far better than noise inside the hole; identity: astronaut has no detectable face
    assert res["telea"]["summary"]["psnr_hole"] > res["base"]["summary"]["psnr_hole"] + 3
    assert res["base"]["summary"]["identity_no_face"] == 1
    for r in res.values():
        s = r["summary"]
        assert s["n"] == 5 and s["fid"] > 0 and s["kid_std"] > 0
        assert 0 < s["identity"] <= 1
        assert sum(b["n"] for b in r["bands"].values()) == 5
    assert res["telea"]["summary"]["fid"] < res["base"]["summary"]["fid"]
    md = (out / "report.md").read_text()
    assert "N = 5" in md and "noise" in md and "KID" in md and "identity" in md
    assert "Change against `base`" in md and "NOT the official FID Inception weights" in md
    grid = Image.open(out / "grid.png")
    assert grid.width > 4 * 192 and grid.height > 4 * 192  # 5 columns (masked, base, pers., telea, truth) x 5 rows
    # nothing is replaced without overwrite, checked before any work
    with pytest.raises(OutputExistsError):
        base_vs_personalised(env["ds"], env["noise"], env["ckpt"], out, progress=False, **env["ev"])


def test_identical_images_and_empty_holes_are_not_made_up_numbers(env, tmp_path):
    """An identical image (PSNR inf) is left out of the PSNR mean and counted; an empty hole gives null
    in strict JSON, never NaN or a stand-in 100 dB."""
    from triple_dots.evaluation.metrics import Evaluator
    from triple_dots.evaluation.report import report_json
    from triple_dots.evaluation.testset import TestSet

    ds = tmp_path / "ds"
    shutil.copytree(env["ds"], ds)
    write_mask(ds / "masks" / "biden.png", torch.zeros(1, 128, 128), overwrite=True)  # an empty hole
    fakes = tmp_path / "fakes"
    shutil.copytree(env["noise"], fakes)
    shutil.copy(ds / "images" / "obama.png", fakes / "obama.png")  # one output identical to its truth
    ev = Evaluator(TestSet.from_dataset(ds), metrics=("psnr", "ssim"), progress=False)
    res = ev.evaluate("m", fakes)
    rows = {r["name"]: r for r in res.per_image}
    assert rows["obama"]["psnr"] is None and rows["obama"]["psnr_identical"] is True
    assert rows["biden"]["psnr_hole"] is None and rows["biden"]["ssim_hole"] is None
    finite = [paired.psnr(read_image(fakes / f"{n}.png"), read_image(ds / "images" / f"{n}.png"))
              for n in rows if n != "obama"]
    assert res.summary["psnr"] == pytest.approx(sum(finite) / len(finite))  # the mean of the 4 others
    assert res.summary["psnr_identical"] == 1 and res.summary["psnr_hole_identical"] == 1
    text = report_json({"results": [res.as_dict()], "x": float("nan"), "y": [float("inf")]})

    def refuse(token: str):
        raise ValueError(f"non-standard JSON constant {token}")

    parsed = json.loads(text, parse_constant=refuse)  # strict: no NaN / Infinity anywhere
    assert parsed["x"] is None and parsed["y"] == [None]


def test_report_takes_tfill_mat_and_telea_side_by_side(env, tmp_path):
    """--models tfill=CKPT mat=FILE: both are inpainted here, every known pixel kept, scored like any model."""
    from mat_support import tiny_model

    from triple_dots.evaluation.report import evaluate_models

    mat_file = tiny_model(128).save(tmp_path / "tiny_mat.pth")
    out = tmp_path / "rep"
    rep = evaluate_models(env["ds"], {"tfill": env["ckpt"], "mat": mat_file}, out, tfill_config=TINY_IO,
                          metrics=("psnr", "ssim"), progress=False)
    assert [r["name"] for r in rep["results"]] == ["tfill", "mat", "telea"]
    for name in rep["names"]:
        real = read_image(env["ds"] / "images" / f"{name}.png")
        hole = read_mask(env["ds"] / "masks" / f"{name}.png")
        mat_out = read_image(out / "generated" / "mat" / f"{name}.png")
        known = (hole == 0).expand_as(real)
        assert torch.equal(mat_out[known], real[known]) and not torch.equal(mat_out[~known], real[~known])
    assert all(r["summary"]["n"] == 5 and r["summary"]["psnr_hole"] > 0 for r in rep["results"])
    with pytest.raises(BadInputError, match="MAT weights file"):
        evaluate_models(env["ds"], {"x": tmp_path / "weights.bin"}, tmp_path / "rep2", progress=False)


def test_report_lists_bad_model_files_before_work(env, tmp_path):
    from triple_dots.evaluation.report import evaluate_models

    bad = tmp_path / "bad"
    for p in sorted(env["mean"].glob("*.png"))[:2]:
        write_image(bad / p.name, read_image(p))
    write_image(bad / "obama.png", torch.rand(3, 100, 128))  # wrong size
    (bad / "obama2.png").write_bytes(b"\x89PNG broken")  # unreadable
    write_image(bad / "stranger.png", torch.rand(3, 128, 128))  # not in the test set: ignored with a warning
    with pytest.raises(BadInputError) as exc:
        evaluate_models(env["ds"], {"good": env["mean"], "bad": bad}, tmp_path / "out", metrics=("psnr",),
                        progress=False)
    msg = str(exc.value)
    assert "no generated image for 'grace_hopper'" in msg and "obama2.png: unreadable" in msg
    assert "size mismatch for 'obama'" in msg and "128x100" in msg
    assert not (tmp_path / "out").exists()


def test_telea_baseline_keeps_known_pixels():
    img = torch.rand(3, 32, 32)
    hole = torch.zeros(1, 32, 32)
    hole[:, 10:20, 10:20] = 1
    out = telea(img, hole)
    assert out.shape == img.shape
    keep = (hole == 0).expand_as(img)
    assert torch.allclose(out[keep], (img[keep] * 255).round() / 255, atol=1 / 255 + 1e-6)
    smooth_img = torch.full((3, 32, 32), 0.5)
    assert torch.allclose(telea(smooth_img, hole), smooth_img, atol=2 / 255)  # flat image: hole filled flat


# ------------------------------------------------------------------------------------------------ curves
def test_smooth():
    np.testing.assert_allclose(smooth([2.0] * 5), [2.0] * 5)
    s = smooth([0.0, 10.0], 0.5)
    assert s[0] == 0.0 and s[1] == pytest.approx(10 * 0.5 / 0.75)
    assert smooth([1.0, float("nan"), 1.0])[1] == 1.0
    with pytest.raises(BadInputError):
        smooth([1.0], 1.0)


def test_loss_curves(tmp_path):
    run = make_run(tmp_path / "run", iterations=())
    with open(run / "log.jsonl", "a") as fh:
        fh.write('{"iteration": 300, "split": "val", "val_l1_hole": 0.5, "flag": true}\n')  # a bool is not a metric
        fh.write('{"iteration": 999, "loss_rec": 0.')  # torn last line of a killed run
    recs = read_log(run)
    assert loss_terms(recs) == ["loss_rec", "loss_lp", "loss_g"]
    fig = plot_loss_curves(run, tmp_path / "curves.png", log_scale=True)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["loss_rec", "loss_lp", "loss_g", "val_loss", "val_l1_hole"]
    assert visible[0].get_yscale() == "log"
    raw, smoothed = visible[0].lines[:2]
    assert len(raw.get_xdata()) == 30
    assert np.abs(np.diff(smoothed.get_ydata())).sum() < np.abs(np.diff(raw.get_ydata())).sum()  # less jagged
    assert Image.open(tmp_path / "curves.png").size[0] > 500
    with pytest.raises(OutputExistsError):
        plot_loss_curves(run, tmp_path / "curves.png")
    with pytest.raises(BadInputError, match="loss_nope"):
        plot_loss_curves(run, terms=["loss_nope"])


# ------------------------------------------------------------------------------------------------ sweep
@pytest.mark.slow
def test_sweep_picks_best_checkpoint(env, tmp_path):
    from triple_dots.evaluation.generate import generate_model
    from triple_dots.evaluation.metrics import Evaluator
    from triple_dots.evaluation.sweep import sweep
    from triple_dots.evaluation.testset import TestSet

    run = make_run(tmp_path / "run", iterations=(100, 200))
    res = sweep(run, env["ds"], metric="psnr_hole", max_images=2, progress=False)
    assert res.iterations == [100, 200] and res.n_images == 2 and all(v is not None for v in res.values)
    assert res.best_value == max(res.values) and res.higher_is_better
    best = json.loads((run / "best.json").read_text())
    assert best == {"iteration": res.best_iteration, "checkpoint": f"checkpoints/iter_{res.best_iteration:08d}",
                    "metric": "psnr_hole", "value": res.best_value}
    assert (run / "eval" / "sweep_psnr_hole.png").is_file()
    # the same number as writing that checkpoint's outputs to files and scoring the folder
    ts = TestSet.from_dataset(env["ds"], max_images=2)
    folder = generate_model(run / best["checkpoint"], ts, tmp_path / "gen", config=TINY_IO, progress=False)
    again = Evaluator(ts, metrics=("psnr",), progress=False).evaluate("best", folder)
    assert again.summary["psnr_hole"] == pytest.approx(best["value"], abs=1e-9)
    with pytest.raises(OutputExistsError):
        sweep(run, env["ds"], metric="psnr_hole", max_images=2, progress=False)
    # lower-is-better metric with the stand-in LPIPS backbone
    res2 = sweep(run, env["ds"], metric="lpips_hole", max_images=1, progress=False, overwrite=True,
                 lpips_backbone=env["weights"]["lpips_backbone"])
    assert res2.best_value == min(res2.values) and not res2.higher_is_better
    assert json.loads((run / "best.json").read_text())["metric"] == "lpips_hole"


def test_sweep_bad_run(tmp_path, env):
    from triple_dots.evaluation.sweep import sweep

    with pytest.raises(BadInputError, match="checkpoints"):
        sweep(tmp_path, env["ds"], metric="psnr")
    with pytest.raises(BadInputError, match="unknown sweep metric"):
        sweep(tmp_path, env["ds"], metric="accuracy")


# ------------------------------------------------------------------------------------------------ CLI
def test_cli_pair_mode(env, tmp_path, capsys):
    from triple_dots.cli import main

    out = tmp_path / "r.json"
    rc = main(["evaluate", "--real", str(env["ds"] / "images"), "--fake", str(env["mean"]), "--dims", "64",
               "--fid-weights", str(env["weights"]["fid_weights"]), "--cache-dir", str(tmp_path / "c"),
               "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "fid" in text and "N = 5" in text and "noise" in text
    res = json.loads(out.read_text())
    assert res["fid"] > 0 and res["n_real"] == 5
    rc = main(["evaluate", "--real", str(env["ds"] / "images"), "--fake", str(env["mean"]),
               "--masks", str(env["ds"] / "masks"), "--metrics", "psnr,ssim"])
    assert rc == 0 and "psnr_hole" in capsys.readouterr().out
    assert main(["evaluate", "--real", str(env["ds"] / "images")]) == 2
    assert main(["evaluate", "--models", "a=b"]) == 2  # no --data
    err = capsys.readouterr().err
    assert "needs both --real DIR and --fake DIR" in err and "needs the test set: --data ROOT" in err
    assert main(["evaluate", "--real", "x", "--fake", "y", "--run", "r"]) == 2
    assert "choose one mode" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_report_and_run_modes(env, tmp_path, capsys):
    from triple_dots.cli import main

    rc = main(["evaluate", "--data", str(env["ds"]), "--models", f"mean={env['mean']}", f"noise={env['noise']}",
               "--out", str(tmp_path / "rep"), "--metrics", "psnr,ssim,identity"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| mean | 5 |" in text and "| telea | 5 |" in text
    run = make_run(tmp_path / "run", iterations=(10, 20))
    rc = main(["evaluate", "--run", str(run), "--data", str(env["ds"]), "--metric", "ssim_hole", "--max-images", "1"])
    assert rc == 0
    assert "<- best" in capsys.readouterr().out
    assert json.loads((run / "best.json").read_text())["metric"] == "ssim_hole"
