"""Stand-in weights: released names/shapes/formats, loaded by the real loaders, marked, never overwriting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from triple_dots import weights
from triple_dots.stand_ins import FOLDER_MARKER, is_stand_in, marker_path, write_stand_ins

KEYS = ["tfill-ffhq", "fid-inception", "vgg16", "alexnet"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stand_ins")
    written = write_stand_ins(folder, KEYS + ["dlib-landmarks68"], log=None)
    assert len(written) == 6 + 3  # six TFill networks, three single files, nothing for dlib
    return folder


@pytest.fixture()
def at_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRIPLE_DOTS_HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(home / "no-torch-hub"))  # no real torch-hub file can be found instead
    return home


def test_tfill_loads_strictly_at_the_released_config(at_home: Path) -> None:
    from triple_dots.tfill import TFill

    folder = weights.locate("tfill-ffhq")
    assert folder == at_home / "tfill" / "ffhq"
    model = TFill.from_official(folder, discriminators=True, channels_last=False)  # widths read from the files
    assert (model.config.ngf, model.config.embed_dim, model.config.n_encoders) == (32, 512, 12)
    assert model.net_D is not None and model.net_D_Ref is not None
    released = TFill.from_official(preset="ffhq", channels_last=False)  # registry lookup, preset widths
    assert all(torch.equal(a, b) for a, b in zip(model.net_G_Ref.state_dict().values(),
                                                  released.net_G_Ref.state_dict().values(), strict=True))
    assert is_stand_in(folder) and is_stand_in(folder / "latest_net_E.pth")


def test_fid_and_lpips_loaders_load_them(at_home: Path) -> None:
    from triple_dots.evaluation.fid import build_inception
    from triple_dots.evaluation.paired import load_lpips
    from triple_dots.training.losses import PerceptualLoss

    fid = build_inception(2048)
    assert fid.weights_path == at_home / "pt_inception-2015-12-05-6726825d.pth"
    assert load_lpips("alex").backbone_path == at_home / "alexnet-owt-7be5be79.pth"
    assert load_lpips("vgg").backbone_path == at_home / "vgg16-397923af.pth"
    PerceptualLoss()  # the training loss finds and checks vgg16 through the registry
    # exact key set of the torchvision download (features and classifier), not only what LPIPS uses
    import torchvision

    state = torch.load(at_home / "vgg16-397923af.pth", map_location="cpu", weights_only=True)
    ref = torchvision.models.vgg16().state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(v.shape) for k, v in ref.items()}
    for key in ("fid-inception", "vgg16", "alexnet"):
        assert is_stand_in(weights.locate(key))


def test_is_stand_in_false_for_ordinary_and_replaced_files(home: Path, tmp_path: Path) -> None:
    plain = tmp_path / "vgg16-397923af.pth"
    torch.save({"x": torch.zeros(2)}, plain)
    assert not is_stand_in(plain) and not is_stand_in(tmp_path)
    # the real download put in place of a stand-in (marker left behind): no longer a stand-in
    import shutil

    copy = tmp_path / "copy"
    copy.mkdir()
    for name in (FOLDER_MARKER, "latest_net_E.pth"):  # copying (new mtimes) keeps it a stand-in
        shutil.copy(home / "tfill" / "ffhq" / name, copy / name)
    assert is_stand_in(copy) and is_stand_in(copy / "latest_net_E.pth")
    shutil.copy(home / "pt_inception-2015-12-05-6726825d.pth", tmp_path / "inc.pth")
    shutil.copy(marker_path(home / "pt_inception-2015-12-05-6726825d.pth"), marker_path(tmp_path / "inc.pth"))
    assert is_stand_in(tmp_path / "inc.pth")  # renamed together with its sidecar
    (tmp_path / "inc.pth").write_bytes(plain.read_bytes())
    assert not is_stand_in(tmp_path / "inc.pth")  # replaced: the sidecar no longer describes it
    for f in copy.glob("latest_net_*.pth"):
        f.write_bytes(f.read_bytes()[:-1] + b"x")  # same size, other content
    assert (copy / FOLDER_MARKER).is_file() and not is_stand_in(copy)


def test_weights_command_says_stand_in(at_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from triple_dots.cli import main

    assert main(["weights"]) == 0
    out = capsys.readouterr().out
    blocks = {b.split()[0]: b for b in out.split("\n\n")[1:]}
    for key in KEYS:
        assert "present (STAND-IN: random weights)" in blocks[key], blocks[key]
    assert "MISSING" in blocks["sam-vit_b"] and "STAND-IN" not in blocks["sam-vit_b"]


def test_existing_files_are_never_overwritten(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from triple_dots.cli import main

    real = tmp_path / "alexnet-owt-7be5be79.pth"
    real.write_bytes(b"the real download")
    partial = tmp_path / "tfill" / "ffhq" / "latest_net_E.pth"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"real E")
    assert write_stand_ins(tmp_path, ["alexnet", "tfill-ffhq"], log=None) == []
    assert real.read_bytes() == b"the real download" and partial.read_bytes() == b"real E"
    assert not marker_path(real).exists() and not (partial.parent / FOLDER_MARKER).exists()
    assert sorted(os.listdir(partial.parent)) == ["latest_net_E.pth"]  # no stand-in mixed with a real file
    assert main(["weights", "--stand-ins", str(tmp_path), "--only", "alexnet"]) == 0
    assert "already exists" in capsys.readouterr().out and real.read_bytes() == b"the real download"
    with pytest.raises(Exception, match="unknown weights 'nope'"):
        write_stand_ins(tmp_path, ["nope"], log=None)


def test_default_set_includes_mat_entries_and_skips_unknown_builders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triple_dots import stand_ins

    fake = weights.WeightFile(key="mat-test", description="x", filename="mat_test.pth", url="u", licence="l")
    monkeypatch.setitem(weights.REGISTRY, "mat-test", fake)
    keys = stand_ins.default_keys()
    assert keys[:5] == ["tfill-ffhq", "sam-vit_b", "fid-inception", "vgg16", "alexnet"] and "mat-test" in keys
    assert "sam-vit_l" not in keys and "sam-vit_h" not in keys
    monkeypatch.setattr(stand_ins, "builder", lambda key: None)  # a registry entry nobody wrote a builder for
    notes: list[str] = []
    assert write_stand_ins(tmp_path, ["mat-test"], log=notes.append) == []
    assert "mat-test" in notes[0] and "skipped" in notes[0] and not list(tmp_path.iterdir())


@pytest.mark.slow
def test_sam_vit_b_stand_in_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from triple_dots.segment.sam import load_sam

    (path,) = write_stand_ins(tmp_path, ["sam-vit_b"], log=None)
    assert path == tmp_path / "sam_vit_b_01ec64.pth" and is_stand_in(path)
    monkeypatch.setenv("TRIPLE_DOTS_HOME", str(tmp_path))
    sam = load_sam("vit_b")
    assert sum(p.numel() for p in sam.parameters()) > 90e6
    assert load_sam("vit_b", path) is not None


def test_demo_and_report_say_stand_in(home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from triple_dots import demo
    from triple_dots.evaluation.report import markdown
    from triple_dots.tfill import TFill

    monkeypatch.setattr(TFill, "from_official", classmethod(lambda cls, *a, **k: "model"))
    monkeypatch.setenv("TRIPLE_DOTS_HOME", str(home))
    assert demo._load_model(None, "cpu") == ("model", "TFill (FFHQ, STAND-IN random weights, not the release)")
    _, label = demo._load_model(home / "tfill" / "ffhq", "cpu")
    assert "STAND-IN random weights, not the release" in label
    real = tmp_path / "real"
    real.mkdir()
    assert "STAND-IN" not in demo._load_model(real, "cpu")[1]
    assert "**STAND-IN TFill checkpoint**" in markdown([], test_source="t", notes={"stand_in_models": {"base": "TFill checkpoint"}})
    assert "STAND-IN" not in markdown([], test_source="t", notes={})


@pytest.mark.slow
def test_mat_stand_in_is_an_official_format_pickle_that_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mat-celeba-hq-256: a persistence-format .pkl at the released shapes, read safely, marked as a stand-in."""
    from triple_dots.mat import MAT
    from triple_dots.mat.checkpoint import safe_unpickle
    from triple_dots.stand_ins import is_stand_in

    monkeypatch.setenv("TRIPLE_DOTS_HOME", str(tmp_path))
    [path] = write_stand_ins(tmp_path, ["mat-celeba-hq-256"], log=None)
    assert path == tmp_path / weights.get("mat-celeba-hq-256").filename and path.suffix == ".pkl"
    top = safe_unpickle(path)
    assert set(top) == {"G", "D", "G_ema", "augment_pipe"} and top["G_ema"].class_name == "MAT"
    model = MAT.from_official(key="mat-celeba-hq-256")
    assert model.resolution == 256 and is_stand_in(weights.locate("mat-celeba-hq-256"))
    assert [k for k, _ in model.state_dict().items()] == [k for k, _ in MAT(256).state_dict().items()]
