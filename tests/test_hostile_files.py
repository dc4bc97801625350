"""Hostile and odd files (issue 17): each kind is read correctly or refused with a message naming the file,
never with a traceback, and never changes the input. Kinds already covered in ``test_images.py`` (EXIF
rotation, 16-bit, CMYK, truncated, text named .jpg, empty, decompression bomb, grey/colour masks) are
not repeated; this file adds the rest, plus alpha-drawn masks, hostile pickles, bounded weight widths,
meta JSON of the wrong shape, literal names like ``me[1].jpg`` and a full disk."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.hostile_support import Marker, cli, tree_hash
from tests.training_support import make_dataset
from triple_dots.errors import BadInputError, BadWeightsError, DiskFullError, TripleDotsError
from triple_dots.images import read_image, read_mask


def _write_kind(path: Path, kind: str) -> Path:
    if kind == "one_pixel":
        Image.new("RGB", (1, 1), (9, 9, 9)).save(path)
    elif kind == "palette_transparent":
        im = Image.new("P", (8, 8), 1)
        im.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
        im.save(path, transparency=0)
    elif kind in ("animated_gif", "animated_webp"):
        frames = [Image.new("RGB", (16, 16), (c, 0, 0)) for c in (10, 200)]
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    elif kind == "svg":
        path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    elif kind == "heic":
        path.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    elif kind == "folder":
        path.mkdir()
    elif kind == "symlink_loop":
        os.symlink(path.name, path)
    elif kind == "odd_name":
        Image.new("RGB", (20, 20), (1, 2, 3)).save(path)
    return path


KINDS = {  # kind: (file name, readable?)
    "one_pixel": ("a.png", True),
    "palette_transparent": ("a.png", True),
    "animated_gif": ("a.gif", True),
    "animated_webp": ("a.webp", True),
    "svg": ("a.svg", False),
    "heic": ("a.heic", False),
    "folder": ("a.jpg", False),
    "symlink_loop": ("loop.png", False),
    "odd_name": ("me[1] ü 'x'.png", True),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_odd_photo_files_read_or_name_the_file(tmp_path: Path, kind: str) -> None:
    name, readable = KINDS[kind]
    path = _write_kind(tmp_path / name, kind)
    if readable:
        img = read_image(path)
        assert img.shape[0] == 3 and img.dtype == torch.float32
    else:
        with pytest.raises(TripleDotsError) as exc:
            read_image(path)
        assert name in str(exc.value)


def test_folder_scan_survives_symlink_loops_and_folders_named_like_photos(tmp_path: Path) -> None:
    from triple_dots.images import list_images

    _write_kind(tmp_path / "loop.png", "symlink_loop")
    _write_kind(tmp_path / "dir.jpg", "folder")
    _write_kind(tmp_path / "me[1].png", "odd_name")
    assert [p.name for p in list_images(tmp_path)] == ["me[1].png"]


def _rgba(path: Path, rgba: np.ndarray) -> Path:
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def test_mask_drawn_in_the_alpha_channel_is_read_as_the_hole(tmp_path: Path) -> None:
    a = np.zeros((16, 16, 4), np.uint8)
    a[4:8, 4:10, 3] = 255  # black strokes on a transparent layer
    assert read_mask(_rgba(tmp_path / "black.png", a)).sum() == 24
    a[..., :3] = 255  # white everywhere, only alpha tells the strokes
    assert read_mask(_rgba(tmp_path / "white.png", a)).sum() == 24
    b = np.zeros((16, 16, 4), np.uint8)
    b[..., 3] = 255
    b[2:4, 2:4, :3] = 255  # an ordinary opaque RGBA mask: the colour is the mask
    assert read_mask(_rgba(tmp_path / "opaque.png", b)).sum() == 4
    la = np.zeros((16, 16, 2), np.uint8)
    la[0:2, 0:3, 1] = 255
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert read_mask(tmp_path / "la.png").sum() == 6


def test_colour_drawing_on_a_transparent_layer_is_refused_by_name(tmp_path: Path) -> None:
    a = np.zeros((16, 16, 4), np.uint8)
    a[2:4, 2:4] = (255, 0, 0, 255)
    a[8:10, 8:10] = (0, 255, 0, 255)
    with pytest.raises(TripleDotsError, match="colour.*col.png|col.png.*colour"):
        read_mask(_rgba(tmp_path / "col.png", a))


def test_hostile_pickle_weight_file_is_refused_without_running(tmp_path: Path) -> None:
    from triple_dots.tfill.checkpoint_files import load_state_file

    marker = tmp_path / "pwned"
    path = tmp_path / "latest_net_G.pth"
    torch.save({"w": Marker(marker)}, path)
    with pytest.raises(BadWeightsError, match="latest_net_G.pth"):
        load_state_file(path)
    assert not marker.exists()


def _fake_checkpoint(folder: Path, ngf: int, embed_dim: int) -> Path:
    folder.mkdir()
    torch.save({"encode.weight": torch.zeros(ngf, 1, 1, 1)}, folder / "latest_net_E.pth")
    torch.save({"token_embed.weight": torch.zeros(embed_dim, 1), "encoder_trans.layers.0.w": torch.zeros(1)},
               folder / "latest_net_T.pth")
    for n in ("G", "G_Ref"):
        torch.save({"x": torch.zeros(1)}, folder / f"latest_net_{n}.pth")
    return folder


@pytest.mark.parametrize(("ngf", "embed_dim", "bad"), [(200_000, 512, "latest_net_E.pth.*ngf=200000"),
                                                       (32, 200_000, "latest_net_T.pth.*embed_dim=200000"),
                                                       (32, 63, "latest_net_T.pth.*embed_dim=63")])
def test_widths_read_from_weight_files_are_bounded(tmp_path: Path, ngf: int, embed_dim: int, bad: str) -> None:
    from triple_dots.tfill import TFill

    folder = _fake_checkpoint(tmp_path / "w", ngf, embed_dim)
    before = tree_hash(folder)
    with pytest.raises(BadWeightsError, match=bad):
        TFill.from_official(folder)
    assert tree_hash(folder) == before


@pytest.mark.parametrize("meta", [{"faces": {"box": [1, 2, 3, 4]}}, {"faces": [{"box": "x"}]},
                                  {"faces": [[1, 2]]}, {"image_size": "big"}, {"faces": [{"landmarks": [1, 2]}]}])
def test_meta_of_the_wrong_shape_names_the_file(tmp_path: Path, capsys, meta: dict) -> None:
    ds = make_dataset(tmp_path / "ds", n=2, size=64)
    (ds / "meta").mkdir()
    (ds / "meta" / "img0.json").write_text(json.dumps(meta))
    before = tree_hash(ds)
    code, err = cli(capsys, "preprocess", "resize", ds, tmp_path / "out", "--size", "32", "--fit", "face")
    assert code == 2 and "img0.json" in err and "Traceback" not in err
    assert tree_hash(ds) == before


def test_full_disk_leaves_no_partial_file_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from triple_dots.files import atomic_write, atomic_write_bytes

    with pytest.raises(DiskFullError, match="disk is full.*out.bin|out.bin.*disk is full"):
        with atomic_write(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert list(tmp_path.iterdir()) == []  # neither the final name nor the temporary file

    def torch_full(*a, **k):  # what torch.save raises on a full disk
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed; unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", torch_full)
    with pytest.raises(DiskFullError, match="state.pt"):
        with atomic_write(tmp_path / "state.pt") as tmp:
            torch.save({}, tmp)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    real_write = Path.write_bytes

    def full_write(self, data):
        real_write(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_write)
    with pytest.raises(DiskFullError):
        atomic_write_bytes(tmp_path / "m.png", b"x" * 100)
    assert list(tmp_path.iterdir()) == []


def test_full_disk_in_a_command_is_one_clear_line(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil as sh

    ds = make_dataset(tmp_path / "ds", n=2, size=64)
    before = tree_hash(ds)

    def full_copy(src, dst, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sh, "copyfile", full_copy)
    code, err = cli(capsys, "preprocess", "split", ds, tmp_path / "out", "--val", "0", "--test", "0",
                    "--workers", "1", "--skip-bad")
    assert code == 2 and "disk is full" in err and "Traceback" not in err
    assert tree_hash(ds) == before
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.is_file()] if (tmp_path / "out").exists() else []
    assert not [p for p in leftovers if p.name.endswith(".tmp") or p.suffix == ".png"]


def test_exif_rotated_photo_with_a_matching_mask_passes_the_inpaint_check(tmp_path: Path, capsys) -> None:
    """The pre-check uses the size after EXIF orientation (as the model does), not the raw size."""
    ph, mk = tmp_path / "ph", tmp_path / "mk"
    ph.mkdir(), mk.mkdir()
    im = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: shown as 20 x 40
    im.save(ph / "p.jpg", exif=exif.tobytes())
    Image.fromarray(np.zeros((40, 20), np.uint8)).save(mk / "p.png")
    code, err = cli(capsys, "inpaint", "--images", ph, "--masks", mk, "--out", tmp_path / "out",
                    "--weights", tmp_path / "missing")
    # the pair is accepted; the run then stops at the missing weights, naming them
    assert code == 2 and "missing" in err and "is 20x40" not in err


def test_truncated_photo_is_found_before_any_output_is_written(tmp_path: Path, capsys) -> None:
    ds = make_dataset(tmp_path / "ds", n=3, size=64)
    data = (ds / "images" / "img2.png").read_bytes()
    (ds / "images" / "img2.png").write_bytes(data[: len(data) // 2])
    before = tree_hash(ds)
    code, err = cli(capsys, "inpaint", "--images", ds / "images", "--masks", ds / "masks", "--out",
                    tmp_path / "out", "--weights", tmp_path / "missing")
    assert code == 2 and "img2.png" in err and "nothing was written" in err
    assert tree_hash(ds) == before and not (tmp_path / "out").exists()


def test_bracketed_photo_names_are_names_not_patterns(tmp_path: Path) -> None:
    from triple_dots.demo import _by_stem

    (tmp_path / "me[1].png").write_bytes(b"x")
    (tmp_path / "m1.png").write_bytes(b"y")
    assert _by_stem(tmp_path, "me[1]").name == "me[1].png"
    with pytest.raises(BadInputError, match="'me\\[2\\]'"):
        _by_stem(tmp_path, "me[2]")
    shutil.rmtree(tmp_path)
