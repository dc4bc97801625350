"""Image and hole-mask I/O: every reader path with real files, atomic and no-clobber writes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from triple_dots import images
from triple_dots.errors import BadInputError, BadMaskError, OutputExistsError, UnreadableImageError
from triple_dots.images import read_image, read_mask, write_image, write_mask


def _asymmetric_rgb(h: int = 20, w: int = 40) -> np.ndarray:
    """Red left half, blue right half, a green top-left corner: orientation is unambiguous."""
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (255, 0, 0)
    arr[:, w // 2 :] = (0, 0, 255)
    arr[:4, :4] = (0, 255, 0)
    return arr


def test_exif_rotated_jpeg_comes_back_upright(tmp_path: Path) -> None:
    upright = _asymmetric_rgb()  # 20 x 40 (H x W)
    # A camera held sideways stores the pixels rotated and records orientation 6 ("rotate 90 CW to view").
    stored = np.rot90(upright, k=1).copy()  # 40 x 20, counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, quality=100, exif=exif)
    img = read_image(path)
    assert img.shape == (3, 20, 40)
    arr = images.to_uint8(img).astype(int)
    assert arr[10, 5, 0] > 200 and arr[10, 5, 2] < 60  # left is red
    assert arr[10, 35, 2] > 200 and arr[10, 35, 0] < 60  # right is blue
    assert arr[1, 1, 1] > 150  # green corner top-left


def test_sixteen_bit_png_is_scaled_to_unit_range(tmp_path: Path) -> None:
    arr = np.linspace(0, 65535, 64 * 32).reshape(32, 64).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(arr).save(path)
    img = read_image(path)
    assert img.shape == (3, 32, 64) and img.dtype == torch.float32
    assert img.min() == 0.0 and img.max() == pytest.approx(1.0)
    assert 0.45 < img.mean() < 0.55


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 8), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    img = read_image(path)
    assert img.shape == (3, 8, 16)
    assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    assert img[0].mean() > 0.8 and img[1].mean() < 0.2


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "1"])
def test_other_modes_become_three_channel(tmp_path: Path, mode: str) -> None:
    path = tmp_path / f"m_{mode}.png"
    Image.fromarray(_asymmetric_rgb()).convert(mode).save(path)
    img = read_image(path)
    assert img.shape == (3, 20, 40) and 0.0 <= float(img.min()) <= float(img.max()) <= 1.0


def test_truncated_jpeg_raises_with_path(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(UnreadableImageError, match="cut.jpg"):
        read_image(path)


def test_text_file_named_jpg_raises_with_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n")
    with pytest.raises(UnreadableImageError, match="notes.jpg.*not an image"):
        read_image(path)


def test_empty_and_missing_files_raise_with_path(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.touch()
    with pytest.raises(UnreadableImageError, match="empty.png.*empty"):
        read_image(empty)
    with pytest.raises(UnreadableImageError, match="nothere.png.*does not exist"):
        read_image(tmp_path / "nothere.png")


def test_decompression_bomb_guard_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10000 px > 2 x limit -> Pillow refuses
    with pytest.raises(UnreadableImageError, match="big.png.*decompression-bomb"):
        read_image(path)


# ---------------------------------------------------------------------------------------- masks
def _mask_array() -> np.ndarray:
    m = np.zeros((24, 32), np.uint8)
    m[6:18, 8:20] = 255
    return m


def test_png_mask_reads_as_binary_hole_one(tmp_path: Path) -> None:
    path = tmp_path / "m.png"
    Image.fromarray(_mask_array()).save(path)
    mask = read_mask(path)
    assert mask.shape == (1, 24, 32) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert mask.sum() == 12 * 12 and mask[0, 10, 10] == 1 and mask[0, 0, 0] == 0


def test_jpeg_mask_noise_is_thresholded_at_128(tmp_path: Path) -> None:
    path = tmp_path / "m.jpg"
    Image.fromarray(_mask_array()).save(path, quality=60)
    raw = np.asarray(Image.open(path))
    assert len(np.unique(raw)) > 2  # the file really is noisy
    mask = read_mask(path)
    assert torch.equal(mask[0], torch.from_numpy(raw >= 128).float())
    assert abs(mask.sum().item() - 144) <= 8


def test_grey_levels_in_png_mask_are_refused(tmp_path: Path) -> None:
    arr = _mask_array()
    arr[0, 0] = 128
    path = tmp_path / "soft.png"
    Image.fromarray(arr).save(path)
    with pytest.raises(BadMaskError, match="soft.png.*not a binary"):
        read_mask(path)
    assert read_mask(path, threshold=128).sum() == 145  # explicit threshold accepted


def test_colour_mask_is_refused_but_grey_rgb_is_fine(tmp_path: Path) -> None:
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[2:6, 2:6] = (255, 0, 0)
    cpath = tmp_path / "red.png"
    Image.fromarray(colour).save(cpath)
    with pytest.raises(BadMaskError, match="red.png.*colour"):
        read_mask(cpath)
    grey = np.repeat(_mask_array()[..., None], 3, axis=2)
    gpath = tmp_path / "grey_rgb.png"
    Image.fromarray(grey).save(gpath)
    assert read_mask(gpath).sum() == 144


def test_mask_round_trip_is_single_channel_255(tmp_path: Path) -> None:
    mask = torch.zeros(1, 10, 12)
    mask[:, 2:5, 3:9] = 1
    path = write_mask(tmp_path / "out.png", mask)
    with Image.open(path) as im:
        assert im.mode == "L"
        assert set(np.unique(np.asarray(im)).tolist()) == {0, 255}
    assert torch.equal(read_mask(path), mask)
    with pytest.raises(BadInputError, match="lossless"):
        write_mask(tmp_path / "out.jpg", mask)
    with pytest.raises(BadMaskError):
        write_mask(tmp_path / "soft.png", mask * 0.5)


# ---------------------------------------------------------------------------------------- writes
def test_image_round_trip_png_is_exact(tmp_path: Path) -> None:
    img = images.from_uint8(_asymmetric_rgb())
    path = write_image(tmp_path / "a.png", img)
    assert torch.equal(read_image(path), img)


def test_existing_file_is_not_overwritten_without_flag(tmp_path: Path) -> None:
    path = tmp_path / "keep.png"
    write_image(path, images.from_uint8(_asymmetric_rgb()))
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match="keep.png.*overwrite"):
        write_image(path, torch.zeros(3, 5, 5))
    assert path.read_bytes() == before
    write_image(path, torch.zeros(3, 5, 5), overwrite=True)
    assert read_image(path).shape == (3, 5, 5)


def test_crash_mid_write_leaves_nothing_under_final_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write_bytes = Path.write_bytes

    def crash_half_way(self: Path, data: bytes) -> int:
        real_write_bytes(self, data[: len(data) // 2])
        raise OSError("disk unplugged")

    monkeypatch.setattr(Path, "write_bytes", crash_half_way)
    target = tmp_path / "photo.png"
    with pytest.raises(OSError, match="disk unplugged"):
        write_image(target, torch.rand(3, 16, 16))
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary file was cleaned up too


def test_crash_in_encoder_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "photo.png"
    write_image(target, torch.zeros(3, 4, 4))
    before = target.read_bytes()

    def broken_save(self: Image.Image, *args: object, **kwargs: object) -> None:
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        write_image(target, torch.ones(3, 4, 4), overwrite=True)
    assert target.read_bytes() == before


def test_list_images_is_recursive_and_case_insensitive(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ["a.JPG", "b.jpeg", "sub/c.PNG", "sub/d.webp", "notes.txt", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in images.list_images(tmp_path)]
    assert found == ["a.JPG", "b.jpeg", "sub/c.PNG", "sub/d.webp"]
    assert images.list_images(tmp_path, recursive=False) == [tmp_path / "a.JPG", tmp_path / "b.jpeg"]


def test_sample_photos_all_read(sample_paths: list[Path]) -> None:
    assert {p.stem for p in sample_paths} == {"grace_hopper", "astronaut", "obama", "obama2", "biden"}
    for p in sample_paths:
        img = read_image(p)
        assert img.ndim == 3 and img.shape[0] == 3 and 0.0 <= float(img.min()) <= float(img.max()) <= 1.0


# --- the one resize rule and the one dilation for hole masks ----------------------------
def _footprint_rule(m: np.ndarray, h: int, w: int) -> np.ndarray:
    """Brute force: output pixel (i, j) is a hole when any source pixel under its footprint is."""
    big_h, big_w = m.shape
    out = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            r0, r1 = i * big_h // h, -(-(i + 1) * big_h // h)
            c0, c1 = j * big_w // w, -(-(j + 1) * big_w // w)
            out[i, j] = m[r0:r1, c0:c1].any()
    return out


def test_resize_hole_follows_the_footprint_rule_for_arrays_and_tensors() -> None:
    from triple_dots.images import resize_hole

    rng = np.random.default_rng(0)
    for _ in range(60):
        (big_h, big_w), (h, w) = rng.integers(1, 30, 2), rng.integers(1, 30, 2)
        m = (rng.random((big_h, big_w)) < 0.05).astype(np.uint8) * 255
        arr = resize_hole(m, (h, w))
        ten = resize_hole(torch.from_numpy(m > 0).float()[None], (h, w))
        assert arr.dtype == np.uint8 and set(np.unique(arr).tolist()) <= {0, 255}
        assert ten.shape == (1, h, w) and ten.dtype == torch.float32
        assert np.array_equal(arr > 0, _footprint_rule(m > 0, h, w))
        assert np.array_equal(ten[0].numpy() > 0, arr > 0)
    m = np.zeros((9, 7), bool)
    assert resize_hole(m, (9, 7)) is m  # same size: unchanged


def test_grow_hole_contains_the_elliptical_kernel_of_the_same_margin() -> None:
    import cv2

    from triple_dots.images import grow_hole

    dot = np.zeros((61, 61), bool)
    dot[30, 30] = True
    for margin in range(0, 20):
        grown = grow_hole(dot, margin)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        ellipse = cv2.dilate(dot.astype(np.uint8), kernel) > 0
        assert not (ellipse & ~grown).any()
        ys, xs = np.nonzero(grown)
        assert np.hypot(ys - 30, xs - 30).max() < margin + 0.5  # nothing beyond the rounded margin
