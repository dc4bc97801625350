"""Strict loading of official-layout checkpoints: released key list, clear errors, save/load round trip."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from triple_dots.errors import BadWeightsError, MissingWeightsError, OutputExistsError
from triple_dots.tfill import NET_FILES, TFill
from triple_dots.tfill.checkpoint_files import check_state_dict

KEYS_512 = Path(
    os.environ.get(
        "TRIPLE_DOTS_TFILL_KEYS",
        # a copy of ../shared/reference's key list of the released checkpoints (names and shapes only)
        Path(__file__).resolve().parent / "fixtures" / "tfill_official_state_dict_keys_512.txt",
    )
)


def _released_key_list() -> dict[str, dict[str, tuple[int, ...]]]:
    """Parse the dump of the released models: {net name: {key: shape}}."""
    nets: dict[str, dict[str, tuple[int, ...]]] = {}
    current = None
    for line in KEYS_512.read_text().splitlines():
        head = re.match(r"=== file latest_net_(\w+)\.pth", line)
        if head:
            current = nets.setdefault(head.group(1), {})
            continue
        if current is not None and "\t" in line and not line.startswith("#"):
            key, shape = line.split("\t")
            current[key] = tuple(int(v) for v in re.findall(r"\d+", shape))
    return nets


@pytest.fixture(scope="module")
def released() -> dict[str, dict[str, tuple[int, ...]]]:
    nets = _released_key_list()
    assert set(nets) == set(NET_FILES)
    return nets


@pytest.fixture(scope="module")
def full_width() -> TFill:
    return TFill("ffhq", discriminators=True, init=False)


def test_released_width_has_exactly_the_official_keys_and_shapes(full_width: TFill, released) -> None:
    for name, net in full_width.networks():
        ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        assert ours == released[name], name


def test_random_released_state_dicts_load_strictly(full_width: TFill, released) -> None:
    g = torch.Generator().manual_seed(0)
    for name, net in full_width.networks():
        state = {k: torch.randn(shape, generator=g) for k, shape in released[name].items()}
        check_state_dict(net, state, f"random_{name}.pth", name)
        net.load_state_dict(state, strict=True)
        some_key = next(iter(state))
        assert torch.equal(net.state_dict()[some_key], state[some_key])


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    TFill("tiny", fine_size=64, fixed_size=32, discriminators=True).save(tmp_path / "ckpt")
    return tmp_path / "ckpt"


def test_save_writes_official_layout_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = TFill("tiny", fine_size=64, fixed_size=32, discriminators=True).use_channels_last()
    written = model.save(tmp_path / "ck")
    assert sorted(p.name for p in written) == sorted(NET_FILES.values())
    for name, net in model.networks():
        state = torch.load(tmp_path / "ck" / NET_FILES[name], weights_only=True)
        assert set(state) == set(net.state_dict()) and all(v.is_contiguous() for v in state.values())
    loaded = TFill.from_official(tmp_path / "ck", fine_size=64, fixed_size=32, discriminators=True)
    assert loaded.config.ngf == 4 and loaded.config.n_encoders == 1  # widths read from the files
    img = torch.rand(1, 3, 64, 64)
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., 20:40, 10:30] = 1
    assert torch.allclose(model.inpaint(img, hole, seed=0), loaded.inpaint(img, hole, seed=0), atol=1e-5)
    with pytest.raises(OutputExistsError):
        model.save(tmp_path / "ck")
    model.save(tmp_path / "ck", overwrite=True)
    assert not list((tmp_path / "ck").glob(".*tmp"))  # atomic writes leave no temporaries


def test_missing_file_gets_registry_message(tiny_dir: Path, isolated_home: Path) -> None:
    (tiny_dir / "latest_net_T.pth").unlink()
    with pytest.raises(MissingWeightsError) as info:
        TFill.from_official(tiny_dir)
    msg = str(info.value)
    assert "latest_net_T.pth" in msg and "tfill-ffhq" in msg and "github.com/lyndonzheng/TFill" in msg


def test_missing_discriminator_file_named(tiny_dir: Path) -> None:
    (tiny_dir / "latest_net_D_Ref.pth").unlink()
    TFill.from_official(tiny_dir, fine_size=64, fixed_size=32)  # generators alone are fine
    with pytest.raises(MissingWeightsError, match="latest_net_D_Ref.pth"):
        TFill.from_official(tiny_dir, fine_size=64, fixed_size=32, discriminators=True)


def test_registry_lookup_without_folder(isolated_home: Path, tiny_dir: Path) -> None:
    with pytest.raises(MissingWeightsError, match="tfill-celeba"):
        TFill.from_official(preset="celeba")
    target = isolated_home / "tfill" / "ffhq"
    target.mkdir(parents=True)
    for f in tiny_dir.iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    model = TFill.from_official(fine_size=64, fixed_size=32)
    assert model.config.ngf == 4


def test_corrupt_file_names_the_file(tiny_dir: Path) -> None:
    (tiny_dir / "latest_net_G.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(BadWeightsError, match="latest_net_G.pth"):
        TFill.from_official(tiny_dir)


def test_pickled_object_is_refused(tiny_dir: Path) -> None:
    import collections

    torch.save({"weights": collections.Counter(a=1)}, tiny_dir / "latest_net_E.pth")
    with pytest.raises(BadWeightsError, match="latest_net_E.pth"):
        TFill.from_official(tiny_dir)


def test_mismatched_keys_and_shapes_are_listed(tiny_dir: Path) -> None:
    path = tiny_dir / "latest_net_G.pth"
    state = torch.load(path, weights_only=True)
    del state["mid.attn.attn.to_q.weight"]  # as if saved without --attn_G
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(BadWeightsError) as info:
        TFill.from_official(tiny_dir)
    msg = str(info.value)
    assert "latest_net_G.pth" in msg and "mid.attn.attn.to_q.weight" in msg and "extra.weight" in msg
    # tiny files into the released architecture: shape mismatches named
    path.unlink()
    TFill("tiny", fine_size=64, fixed_size=32).save(tiny_dir, overwrite=True)
    with pytest.raises(BadWeightsError, match=r"shape mismatch.*latest_net_E|latest_net_E.*shape mismatch"):
        TFill.from_official(tiny_dir, preset="ffhq")
