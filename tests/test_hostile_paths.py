"""Hostile paths (issue 17): traversal from a manifest, output folders equal to / inside / containing an
input folder, colliding output names, two runs writing one folder. Every case checks a clear message,
a non-zero exit where work is refused, and that every input file is byte-identical afterwards."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hostile_support import cli, tree_hash
from tests.training_support import make_dataset
from triple_dots.errors import BadInputError, OutputExistsError
from triple_dots.files import LOCK_NAME, output_lock


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("hostile_paths") / "ds", n=3, size=64)


@pytest.fixture
def ds(base: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ds"
    shutil.copytree(base, dst)
    return dst


def _manifest(ds: Path, name: str) -> Path:
    m = ds / "manifest.csv"
    m.write_text(f"name,image,mask\nimg0,images/img0.png,masks/img0.png\n{name},images/img1.png,masks/img1.png\n")
    return m


@pytest.mark.parametrize("step", [["split", "--val", "0", "--test", "0"], ["resize", "--size", "32"]])
@pytest.mark.parametrize("name", ["{victim}/authorized_keys", "../../../escaped", "..", "a\\b", ".hidden"])
def test_manifest_names_cannot_leave_the_output_folder(ds, tmp_path, capsys, step, name) -> None:
    victim = tmp_path / "victim"
    name = name.format(victim=victim)
    manifest = _manifest(ds, name)
    before = tree_hash(tmp_path)
    code, err = cli(capsys, "preprocess", step[0], manifest, tmp_path / "out", *step[1:])
    assert code == 2 and "pair name" in err and "manifest" in err
    assert tree_hash(tmp_path) == before  # nothing written anywhere: no out, no victim, no escaped file
    assert not victim.exists()


@pytest.mark.parametrize("where_", ["equal", "inside", "contains"])
def test_preprocess_output_apart_from_input(ds, tmp_path, capsys, where_) -> None:
    out = {"equal": ds, "inside": ds / "images" / "out", "contains": tmp_path}[where_]
    before = tree_hash(ds)
    code, err = cli(capsys, "preprocess", "resize", ds, out, "--size", "32", "--overwrite")
    assert code == 2 and "output folder" in err
    assert tree_hash(ds) == before


def _inpaint_args(ds: Path, out: Path) -> list:
    return ["inpaint", "--images", ds / "images", "--masks", ds / "masks", "--out", out, "--overwrite",
            "--weights", ds / "no-weights"]


@pytest.mark.parametrize("where_", ["photos", "masks", "photos/results", "root"])
def test_inpaint_output_apart_from_photos_and_masks(ds, capsys, where_) -> None:
    out = {"photos": ds / "images", "masks": ds / "masks", "photos/results": ds / "images" / "results",
           "root": ds}[where_]  # fmt: skip
    before = tree_hash(ds)
    code, err = cli(capsys, *_inpaint_args(ds, out))
    assert code == 2 and "--out" in err, err
    assert tree_hash(ds) == before


def test_inpaint_photo_named_like_the_grid_is_refused(ds, tmp_path, capsys) -> None:
    shutil.copy(ds / "images/img0.png", ds / "images/inpaint_grid.png")
    shutil.copy(ds / "masks/img0.png", ds / "masks/inpaint_grid.png")
    before = tree_hash(ds)
    code, err = cli(capsys, *_inpaint_args(ds, tmp_path / "out"))
    assert code == 2 and "inpaint_grid.png" in err and "rename" in err
    assert tree_hash(ds) == before and not (tmp_path / "out").exists()


def test_mask_output_names_never_collide() -> None:
    from triple_dots.masks.synthesize import output_names

    root = Path("/photos")
    photos = [root / n for n in ("a.jpg", "a.png", "a_jpg.png", "a_jpg_1.webp", "A.JPG", "sub/a.jpg", "sub__a.png")]
    names = output_names(photos, root)
    assert len({n.casefold() for n in names}) == len(photos)
    assert names[2] == "a_jpg" and names[3] == "a_jpg_1"  # unique plain names are kept
    assert output_names(list(reversed(photos)), root) == list(reversed(names))  # order does not matter


def test_second_run_into_a_locked_folder_is_refused(ds, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    before = tree_hash(ds)
    with output_lock(out):
        code, err = cli(capsys, "preprocess", "resize", ds, out, "--size", "32")
        assert code == 2 and "another" in err and str(out) in err
        assert [p.name for p in out.iterdir()] == [LOCK_NAME]  # the refused run wrote nothing
        with pytest.raises(OutputExistsError, match="another"):
            with output_lock(out):
                pass
    assert not out.exists()  # the lock (and the folder it created) is gone afterwards
    assert cli(capsys, "preprocess", "resize", ds, out, "--size", "32")[0] == 0
    assert not (out / LOCK_NAME).exists() and (out / "manifest.csv").is_file()
    assert tree_hash(ds) == before


def test_lock_file_does_not_make_an_output_folder_non_empty(ds, tmp_path) -> None:
    from triple_dots.preprocess.folders import check_output

    out = tmp_path / "out"
    with output_lock(out):
        check_output(out, [ds])  # only the lock inside: still "empty"


def test_mask_redoes_a_photo_left_half_done(tmp_path) -> None:
    """A killed run leaves a photo's image but not its mask/meta: the rerun redoes it instead of skipping it."""
    from triple_dots.masks.synthesize import _Job, _run_jobs

    photo = tmp_path / "in" / "p.png"
    photo.parent.mkdir()
    photo.write_bytes(b"not an image")  # unreadable: the job reaches the photo instead of skipping it
    out = tmp_path / "out"
    (out / "images").mkdir(parents=True)
    (out / "images" / "p.png").write_bytes(b"half")
    job = _Job(path=str(photo), names=(("p", "surgical"),), out=str(out), seed=None, margin=0, color=None,
               pattern=None, pattern_weight=0.5, overwrite=False)
    assert _run_jobs([job])[0][0][1] == "unreadable"  # tried again, not "existing"
    for sub, ext in (("masks", "png"), ("meta", "json")):
        (out / sub).mkdir(exist_ok=True)
        (out / sub / f"p.{ext}").write_bytes(b"x")
    assert _run_jobs([job])[0][0][1] == "existing"  # all three present: done


def test_train_output_checks_happen_before_the_run_folder_is_touched(ds, tmp_path) -> None:
    from triple_dots.training import TrainConfig, train

    with pytest.raises(BadInputError, match="run folder"):
        train(TrainConfig(data=str(ds / "manifest.csv") if (ds / "manifest.csv").exists() else str(ds),
                          out=str(ds / "images"), iterations=1, device="cpu", progress=False))


def test_mask_run_into_a_folder_another_run_writes_is_refused(tmp_path, capsys) -> None:
    from triple_dots.samples import sample_path

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(sample_path("obama"), photos / "obama.jpg")
    before = tree_hash(photos)
    out = tmp_path / "out"
    with output_lock(out):  # as if another `triple-dots mask` were writing there
        code, err = cli(capsys, "mask", photos, out)
        assert code == 2 and "another" in err and str(out) in err
        assert [p.name for p in out.iterdir()] == [LOCK_NAME]
    assert tree_hash(photos) == before


def test_demo_output_inside_its_photos_is_refused_before_writing(tmp_path, capsys) -> None:
    from triple_dots.samples import sample_path

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(sample_path("obama"), photos / "obama.jpg")
    before = tree_hash(photos)
    code, err = cli(capsys, "demo", "--images", photos, "--out", photos / "demo")
    assert code == 2 and "inside" in err and str(photos) in err
    assert tree_hash(photos) == before  # not even an empty demo folder


@pytest.mark.parametrize("where_", ["data", "inside_data", "model"])
def test_evaluate_report_folder_apart_from_test_set_and_models(ds, tmp_path, capsys, where_) -> None:
    model = tmp_path / "model"
    shutil.copytree(ds / "images", model)  # a "model": a folder of generated images
    out = {"data": ds, "inside_data": ds / "report", "model": model}[where_]
    before, before_model = tree_hash(ds), tree_hash(model)
    code, err = cli(capsys, "evaluate", "--data", ds, "--models", f"m={model}", "--out", out, "--metrics", "psnr")
    assert code == 2 and "report folder (--out)" in err
    assert tree_hash(ds) == before and tree_hash(model) == before_model


@pytest.mark.parametrize("case", ["folder", "existing", "inside_real"])
def test_evaluate_pair_mode_out_is_checked_before_any_work(ds, tmp_path, capsys, case) -> None:
    fake = tmp_path / "fake"
    shutil.copytree(ds / "images", fake)
    existing = tmp_path / "scores.json"
    existing.write_text("{}")
    out = {"folder": tmp_path, "existing": existing, "inside_real": ds / "images" / "img0.png"}[case]
    before, before_out = tree_hash(ds), existing.read_bytes()
    code, err = cli(capsys, "evaluate", "--real", ds / "images", "--fake", fake, "--out", out, "--overwrite"
                    if case == "inside_real" else "--no-cache")
    assert code == 2 and "--out" in err
    assert tree_hash(ds) == before and existing.read_bytes() == before_out
