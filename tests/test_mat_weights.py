"""Reading MAT weights: the official pickle format without executing it, plain state dicts, strict checks, registry."""

from __future__ import annotations

import os
import pickle
import sys
import types
from pathlib import Path

import pytest
import torch
from mat_support import SHARED_MAT, TINY, tiny_model

from triple_dots import weights
from triple_dots.errors import BadWeightsError, MissingWeightsError
from triple_dots.mat import MAT, load_state_file
from triple_dots.mat.checkpoint import infer_resolution, safe_unpickle
from triple_dots.mat.layers import MappingNet

# one intra-op thread: MAT runs many small ops, which oversubscribe a shared 2-core machine
pytestmark = pytest.mark.usefixtures("one_thread")

MAPPING_PKL = SHARED_MAT / "official_format_mapping.pkl"


@pytest.mark.skipif(not MAPPING_PKL.is_file(), reason=f"shared reference not found at {MAPPING_PKL}")
def test_official_pickle_gives_its_state_dict() -> None:
    ours = load_state_file(MAPPING_PKL)
    expected = torch.load(SHARED_MAT / "official_format_mapping_state_dict.pt", weights_only=True)
    assert list(ours) == list(expected)
    for key, value in expected.items():
        assert ours[key].dtype == value.dtype and torch.equal(ours[key], value), key
    top = safe_unpickle(MAPPING_PKL)
    assert set(top) == {"training_set_kwargs", "G_ema"} and top["G_ema"].class_name == "MappingNet"
    assert "class MappingNet" in top["G_ema"].meta["module_src"]  # kept as inert text


# ------------------------------------------------------------------ a persistence-format pickle of our own
class _Persistent:
    """Pickles like ``torch_utils.persistence``: ``_reconstruct_persistent_obj(meta)`` with source code."""

    def __init__(self, module: torch.nn.Module, module_src: str) -> None:
        self.module, self.module_src = module, module_src

    def __reduce__(self):
        from torch_utils.persistence import _reconstruct_persistent_obj  # the fake module below

        m = self.module
        state = {
            "training": False, "_parameters": dict(m._parameters), "_buffers": dict(m._buffers),
            "_non_persistent_buffers_set": set(), "_forward_hooks": {},
            "_modules": {k: _Persistent(v, self.module_src) for k, v in m._modules.items()},
            "w_avg_beta": 0.995, "_init_kwargs": {"z_dim": 512},
        }
        meta = {"type": "class", "version": 6, "module_src": self.module_src,
                "class_name": type(m).__name__, "state": state}
        return _reconstruct_persistent_obj, (meta,)


@pytest.fixture
def fake_persistence(monkeypatch: pytest.MonkeyPatch):
    """A stand-in ``torch_utils.persistence`` module, present only while the test writes its pickle."""
    pkg, mod = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # never called by the safe loader
        raise AssertionError("the official reconstruct function must not run")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mod._reconstruct_persistent_obj = _reconstruct_persistent_obj
    pkg.persistence = mod
    monkeypatch.setitem(sys.modules, "torch_utils", pkg)
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", mod)


def test_persistent_pickle_is_read_without_running_its_source(tmp_path: Path, fake_persistence) -> None:
    marker = tmp_path / "source_was_executed"
    net = MappingNet(num_ws=10)
    src = f"open({str(marker)!r}, 'w').write('pwned')\nclass MappingNet: pass\n"
    path = tmp_path / "mapping.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"G": _Persistent(net, src), "G_ema": _Persistent(net, src), "augment_pipe": None}, fh)
    for name in ("torch_utils", "torch_utils.persistence"):
        sys.modules.pop(name)  # the reader must not need (or import) the module
    state = load_state_file(path)
    assert list(state) == list(net.state_dict())
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())
    assert not marker.exists()


def _hostile(tmp_path: Path, func_module: str, func_name: str, arg: str) -> Path:
    """A pickle whose loading would call ``func_module.func_name(arg)``."""
    path = tmp_path / f"evil_{func_name}.pkl"
    name, mod = func_name.encode(), func_module.encode()
    # protocol-0 GLOBAL + REDUCE, written by hand so that the test never holds the callable
    payload = b"c" + mod + b"\n" + name + b"\n(" + b"V" + arg.encode() + b"\ntR."
    path.write_bytes(payload)
    return path


@pytest.mark.parametrize(("module", "name"), [("os", "system"), ("posix", "system"), ("builtins", "eval"),
                                              ("subprocess", "getoutput"), ("torch", "load")])
def test_hostile_pickle_is_refused(tmp_path: Path, module: str, name: str) -> None:
    marker = tmp_path / "marker"
    code = f"open({str(marker)!r}, 'w')" if name == "eval" else f"touch {marker}"
    path = _hostile(tmp_path, module, name, code)
    with pytest.raises(BadWeightsError) as info:
        load_state_file(path)
    msg = str(info.value)
    assert str(path) in msg and f"{module}.{name}" in msg and "refused" in msg
    assert not marker.exists()


def test_hostile_pickle_in_mat_from_official(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = _hostile(tmp_path, "os", "system", f"touch {marker}")
    with pytest.raises(BadWeightsError, match="refused"):
        MAT.from_official(path)
    assert not marker.exists()


def test_not_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "junk.pkl"
    path.write_bytes(b"this is not a pickle")
    with pytest.raises(BadWeightsError, match="junk.pkl"):
        load_state_file(path)


# ------------------------------------------------------------------ plain state dicts and strictness
def test_pth_state_dict_and_g_ema_dict(tmp_path: Path) -> None:
    state = MappingNet(num_ws=10).state_dict()
    torch.save(state, tmp_path / "m.pth")
    torch.save({"G_ema": state}, tmp_path / "nested.pt")
    for name in ("m.pth", "nested.pt"):
        loaded = load_state_file(tmp_path / name)
        assert list(loaded) == list(state) and all(torch.equal(loaded[k], state[k]) for k in state)
    torch.save({"a": 1}, tmp_path / "bad.pth")
    with pytest.raises(BadWeightsError, match="plain state dict"):
        load_state_file(tmp_path / "bad.pth")


def test_safetensors_file(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.torch")
    state = MappingNet(num_ws=10).state_dict()
    st.save_file(state, str(tmp_path / "m.safetensors"))
    loaded = load_state_file(tmp_path / "m.safetensors")
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def _meta_keys(resolution: int) -> dict[str, torch.Size]:
    with torch.device("meta"):
        return {k: v.shape for k, v in MAT(resolution).state_dict().items()}


def test_strict_loading_names_file_and_first_bad_keys(tmp_path: Path) -> None:
    keys = _meta_keys(256)
    # every key present but with a wrong (tiny) shape
    path = tmp_path / "wrong_shapes.pth"
    torch.save({k: torch.zeros(1) for k in keys}, path)
    with pytest.raises(BadWeightsError) as info:
        MAT.from_official(path)
    msg = str(info.value)
    assert str(path) in msg and "shape mismatches" in msg and "synthesis.first_stage.conv_first.conv.weight" in msg
    # a 256 file read as 512: the 512-only layers are missing
    with pytest.raises(BadWeightsError, match=r"missing keys: synthesis\.first_stage\.enc_conv\.2\.conv\.weight"):
        MAT.from_official(path, resolution=512)
    # only the mapping network: the first missing synthesis keys are named
    state = {k: torch.zeros(s) for k, s in keys.items() if k.startswith("mapping.")}
    torch.save(state, tmp_path / "mapping_only.pth")
    with pytest.raises(BadWeightsError, match=r"missing keys: synthesis\.first_stage\.conv_first"):
        MAT.from_official(tmp_path / "mapping_only.pth", resolution=256)


def test_resolution_and_widths_are_read_from_files() -> None:
    for res in (256, 512):
        assert infer_resolution(_meta_keys(res)) == res
    assert infer_resolution({"mapping.fc0.weight": torch.zeros(1)}) is None


def test_save_and_from_official_round_trip(tmp_path: Path) -> None:
    """A generator written by :meth:`MAT.save` loads strictly, resolution and widths read from the file."""
    model = tiny_model(256)
    path = model.save(tmp_path / "tiny256.pth")
    loaded = MAT.from_official(path)
    assert (loaded.resolution, loaded.z_dim, loaded.w_dim, loaded.dim, loaded.channel_divisor) == (
        256, TINY["z_dim"], TINY["w_dim"], TINY["dim"], TINY["channel_divisor"])
    assert not loaded.training
    theirs = loaded.state_dict()
    assert all(torch.equal(theirs[k], v) for k, v in model.state_dict().items())


# ------------------------------------------------------------------ registry
@pytest.mark.parametrize(("key", "filename"), [("mat-celeba-hq-512", "CelebA-HQ_512.pkl"),
                                               ("mat-celeba-hq-256", "CelebA-HQ_256.pkl"),
                                               ("mat-ffhq-512", "FFHQ_512.pkl"),
                                               ("mat-places-512", "Places_512_FullData.pkl")])
def test_registry_entries(key: str, filename: str) -> None:
    entry = weights.get(key)
    assert entry.filename == f"mat/{filename}" and "CC BY-NC 4.0" in entry.licence
    assert "sharepoint.com" in entry.url and "fenglinglwb/MAT" in entry.url


def test_missing_weights_say_what_and_where(isolated_home: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError) as info:
        MAT.from_official()
    msg = str(info.value)
    assert "mat-celeba-hq-512" in msg and "CelebA-HQ_512.pkl" in msg and str(isolated_home) in msg
    assert "sharepoint.com" in msg
    with pytest.raises(MissingWeightsError, match="does not exist"):
        MAT.from_official(tmp_path / "nope.pkl")
    assert os.environ["TRIPLE_DOTS_HOME"] == str(isolated_home)
