"""The weights registry: one clear message for every missing file, packaged files found."""

from __future__ import annotations

from pathlib import Path

import pytest

from triple_dots import weights
from triple_dots.errors import BadWeightsError, MissingWeightsError


def test_every_entry_names_a_download_and_licence() -> None:
    assert {"tfill-ffhq", "tfill-celeba", "tfill-places2", "tfill-imagenet", "sam-vit_b", "sam-vit_l", "sam-vit_h",
            "fid-inception", "vgg16", "dlib-landmarks68", "dlib-face-recognition"} <= set(weights.REGISTRY)
    for entry in weights.REGISTRY.values():
        assert entry.url and entry.licence and entry.description


def test_missing_file_message_says_what_where_and_how(isolated_home: Path) -> None:
    with pytest.raises(MissingWeightsError) as info:
        weights.locate("sam-vit_b")
    msg = str(info.value)
    assert "sam-vit_b" in msg and "sam_vit_b_01ec64.pth" in msg
    assert "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth" in msg
    assert str(isolated_home / "sam_vit_b_01ec64.pth") in msg


def test_home_follows_environment(isolated_home: Path) -> None:
    assert weights.home() == isolated_home
    (isolated_home / "sam_vit_b_01ec64.pth").write_bytes(b"weights")
    assert weights.locate("sam-vit_b") == isolated_home / "sam_vit_b_01ec64.pth"


def test_folder_entry_needs_every_file(isolated_home: Path) -> None:
    folder = isolated_home / "tfill" / "ffhq"
    folder.mkdir(parents=True)
    for name in weights.TFILL_FILES[:-1]:
        (folder / name).write_bytes(b"x")
    with pytest.raises(MissingWeightsError, match="latest_net_G_Ref.pth"):
        weights.locate("tfill-ffhq")
    (folder / weights.TFILL_FILES[-1]).write_bytes(b"x")
    assert weights.locate("tfill-ffhq") == folder


def test_explicit_path_is_checked(isolated_home: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match="nowhere.pth"):
        weights.locate("sam-vit_b", tmp_path / "nowhere.pth")


def test_torch_hub_cache_is_searched(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = weights.torch_hub_checkpoints()
    hub.mkdir(parents=True)
    (hub / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"x")
    assert weights.locate("fid-inception") == hub / "pt_inception-2015-12-05-6726825d.pth"


def test_landmark_model_shipped_by_package_is_found(isolated_home: Path) -> None:
    path = weights.locate("dlib-landmarks68")
    assert path.name == "shape_predictor_68_face_landmarks.dat"
    assert path.stat().st_size == weights.get("dlib-landmarks68").size_bytes


def test_verify_flags_incomplete_download(isolated_home: Path) -> None:
    (isolated_home / "shape_predictor_68_face_landmarks.dat").write_bytes(b"partial")
    with pytest.raises(BadWeightsError, match="incomplete"):
        weights.verify("dlib-landmarks68")


def test_unknown_key_lists_known_ones() -> None:
    with pytest.raises(KeyError, match="tfill-ffhq"):
        weights.get("tfill-ffhq-v2")
