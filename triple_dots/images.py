"""Reading and (atomically) writing photos and hole masks in the conventions of :mod:`triple_dots`."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from triple_dots.errors import BadInputError, BadMaskError, UnreadableImageError, where
from triple_dots.files import atomic_write_bytes

if TYPE_CHECKING:
    import torch


def _is_tensor(obj) -> bool:
    """True for a ``torch.Tensor``, without importing torch (mask synthesis never needs it)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


#: File suffixes treated as photos (compared case-insensitively).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """(3, H, W) or (1, H, W) float in [0, 1] -> (H, W, 3) / (H, W) uint8, rounded and clipped; uint8 arrays pass."""
    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        return image
    import torch

    t = torch.as_tensor(image).detach().to("cpu", torch.float32)
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise BadInputError(f"expected a (3, H, W) or (1, H, W) tensor, got shape {tuple(t.shape)}")
    arr = (t.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return arr[..., 0] if arr.shape[2] == 1 else arr


def from_uint8(array: np.ndarray) -> torch.Tensor:
    """(H, W, 3) or (H, W) uint8 -> (3, H, W) / (1, H, W) float32 in [0, 1]."""
    import torch

    if array.dtype != np.uint8:
        raise BadInputError(f"expected a uint8 array, got {array.dtype}")
    if array.ndim == 2:
        array = array[..., None]
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:  # e.g. np.asarray(PIL image): torch wants memory it may own
        array = array.copy()
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)


def as_rgb_uint8(image: np.ndarray | torch.Tensor, *, gray: bool = True) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a (3, H, W) float tensor/array in [0, 1] or an (H, W, 3)/(H, W) uint8 array;
    ``gray=False`` refuses one-channel input ((1, H, W) tensors, (H, W) arrays), e.g. a hole mask."""
    if not gray and (image.ndim == 2 or (_is_tensor(image) and image.ndim == 3 and image.shape[0] == 1)):
        raise BadInputError(f"expected a (3, H, W) photo in [0, 1] or (H, W, 3) uint8, got shape {tuple(image.shape)}")
    if _is_tensor(image):
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise BadInputError(f"expected a (3, H, W) image tensor, got shape {tuple(image.shape)}")
        arr = to_uint8(image.expand(3, -1, -1) if image.shape[0] == 1 else image)
    else:
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[2] != 3:
                arr = to_uint8(np.ascontiguousarray(arr, dtype=np.float32))
            else:
                raise BadInputError(f"expected an (H, W, 3) uint8 RGB array, got {arr.dtype} {arr.shape}")
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise BadInputError(f"expected an (H, W, 3) RGB image, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def open_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image file with EXIF orientation applied, or raise clearly."""
    path = Path(path)
    if not path.exists():
        raise UnreadableImageError(f"{where(path)} does not exist")
    if path.is_dir():
        raise UnreadableImageError(f"{where(path)} is a folder, not an image file")
    if path.stat().st_size == 0:
        raise UnreadableImageError(f"{where(path)} is empty (0 bytes)")
    try:
        img = Image.open(path)
        img.load()  # decodes now: truncated data fails here, not later
        fmt = img.format
        img = ImageOps.exif_transpose(img)
        img.format = fmt
    except Image.DecompressionBombError as exc:
        raise UnreadableImageError(
            f"{where(path)} is too large to decode safely ({exc}); Pillow's decompression-bomb guard "
            "stopped it. Downscale the file first if it is genuine."
        ) from None
    except UnidentifiedImageError:
        raise UnreadableImageError(f"{where(path)} is not an image file Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UnreadableImageError(f"{where(path)} is corrupt or truncated: {exc}") from None
    return img


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> (H, W, 3) float32 in [0, 1]. Alpha is dropped (not composited)."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float32)
        if mode != "F":
            arr = arr / (65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0)
        return np.repeat(np.clip(arr, 0.0, 1.0)[..., None], 3, axis=2)
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode != "RGB":
        img = img.convert("RGB")  # L, LA, RGBA, CMYK, YCbCr, 1, P ... (CMYK uses Pillow's conversion)
    return np.asarray(img, dtype=np.float32) / 255.0


def read_image(path: str | Path) -> torch.Tensor:
    """Read a photo (gray, palette, CMYK, 16-bit, ... converted; alpha dropped; EXIF orientation applied) as a
    (3, H, W) float32 RGB tensor in [0, 1]; :class:`UnreadableImageError` names a missing, empty, truncated,
    non-image or decompression-bomb file."""
    import torch

    arr = _to_rgb_array(open_image(path))
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()


def read_image_uint8(path: str | Path) -> np.ndarray:
    """Read a photo as an (H, W, 3) uint8 RGB array, as :func:`read_image` (8-bit files skip the float round trip)."""
    img = open_image(path)
    if img.mode in ("RGB", "L", "RGBA", "LA", "CMYK", "YCbCr", "1") or (
        img.mode == "P" and "transparency" not in img.info
    ):
        return np.array(img if img.mode == "RGB" else img.convert("RGB"))
    return to_uint8(np.ascontiguousarray(_to_rgb_array(img).transpose(2, 0, 1)))


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of a photo after EXIF orientation; decodes it fully so corrupt files fail here."""
    return open_image(path).size


def probe_image(path: str | Path) -> tuple[tuple[int, int] | None, str | None]:
    """(size (W, H) after EXIF orientation, None), or (None, why the file cannot be read)."""
    try:
        return image_size(path), None
    except UnreadableImageError as exc:
        return None, f"unreadable ({exc})"


def _alpha_mask(img: Image.Image, path: Path) -> np.ndarray | None:
    """The hole drawn in the alpha channel of a mask, or None when alpha carries no drawing.

    Strokes painted on a transparent layer live in alpha (the colour under transparent pixels is meaningless):
    when alpha is not fully opaque and the opaque pixels (alpha >= 128) have one colour, they are the hole
    (255). Otherwise the colour channels are the mask, with transparent pixels read as 0 (keep).
    """
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode not in ("RGBA", "LA", "PA", "RGBa", "La"):
        return None
    arr = np.asarray(img.convert("RGBA"))
    alpha = arr[..., 3]
    if alpha.min(initial=255) == 255:
        return None  # fully opaque: an ordinary mask with an unused alpha channel
    opaque = alpha >= 128
    colours = arr[..., :3][opaque]
    if colours.size == 0 or (colours == colours[0]).all():
        return np.where(opaque, 255, 0).astype(np.uint8)
    rgb = arr[..., :3].copy()
    rgb[~opaque] = 0
    if not _is_gray(rgb):
        raise BadMaskError(
            f"{where(path)} is a colour (RGBA) image, not a hole mask: save it as a single-channel grayscale PNG "
            "with 255 = hole, 0 = keep (or paint the holes in one colour on a transparent layer)"
        )
    return rgb[..., 0].copy()


def _is_gray(rgb: np.ndarray) -> bool:
    return np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])


def _mask_gray_array(img: Image.Image, path: Path) -> np.ndarray:
    """Mask file -> (H, W) uint8 gray array; colour masks are refused, alpha drawings read."""
    drawn = _alpha_mask(img, path)
    if drawn is not None:
        return drawn
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img).astype(np.int64)
        return (arr >> 8).clip(0, 255).astype(np.uint8) if arr.max(initial=0) > 255 else arr.astype(np.uint8)
    if mode in ("1", "L"):
        return np.asarray(img.convert("L"))
    if mode == "LA":
        return np.asarray(img)[..., 0]
    rgb = np.asarray(img.convert("RGB"))
    if not _is_gray(rgb):
        # JPEG chroma noise on a gray mask differs by a few levels only; real colour differs a lot.
        spread = int(np.abs(rgb.astype(np.int16) - rgb.mean(axis=2, keepdims=True)).max())
        if not (img.format == "JPEG" and spread <= 16):
            raise BadMaskError(
                f"{where(path)} is a colour (RGB) image, not a hole mask: save it as a single-channel "
                "grayscale PNG with 255 = hole, 0 = keep"
            )
    return rgb.mean(axis=2).round().astype(np.uint8)


def read_mask(path: str | Path, *, threshold: int | None = None) -> torch.Tensor:
    """Read a hole mask file (8-bit, 255 = hole, 0 = keep) as a (1, H, W) float32 tensor in {0, 1}, **1 = hole**.

    ``value >= threshold`` (1..255) is a hole; JPEG files default to 128 (compression noise). Without a
    threshold, other values than 0 and 255 raise :class:`BadMaskError`, as colour images do.
    """
    import torch

    path = Path(path)
    img = open_image(path)
    gray = _mask_gray_array(img, path)
    if threshold is None and img.format == "JPEG":
        threshold = 128
    if threshold is None:
        values = np.unique(gray)
        extra = values[(values != 0) & (values != 255)]
        if extra.size:
            n_bad = int(np.isin(gray, extra).sum())
            raise BadMaskError(
                f"{where(path)} is not a binary hole mask: {n_bad} pixels have values other than 0 and 255 "
                f"(e.g. {extra[:5].tolist()}); save holes as 255 and kept pixels as 0, or pass a threshold"
            )
        hole = gray == 255
    else:
        if not 1 <= threshold <= 255:
            raise BadInputError(f"threshold must be in 1..255, got {threshold}")
        hole = gray >= threshold
    return torch.from_numpy(hole.astype(np.float32))[None]


def encode_image(image: torch.Tensor | np.ndarray | Image.Image, fmt: str = "PNG", *, quality: int = 95) -> bytes:
    """Encode a photo ((3, H, W) float in [0, 1], (H, W, 3) uint8, or PIL image) to file bytes."""
    pil = image if isinstance(image, Image.Image) else Image.fromarray(to_uint8(image))
    buf = io.BytesIO()
    kwargs = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    pil.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def write_image(
    path: str | Path,
    image: torch.Tensor | np.ndarray | Image.Image,
    *,
    overwrite: bool = False,
    quality: int = 95,
) -> Path:
    """Write a photo as :func:`encode_image` takes it, atomically, refusing to replace a file unless
    ``overwrite``; format from the suffix (.png, .jpg, ...), ``quality`` for JPEG/WebP."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise BadInputError(
            f"{where(path)}: unsupported image suffix {path.suffix!r}; use one of {', '.join(sorted(IMAGE_SUFFIXES))}"
        )
    data = encode_image(image, Image.registered_extensions()[path.suffix.lower()], quality=quality)
    return atomic_write_bytes(path, data, overwrite=overwrite)


def _hole_2d(mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """The (H, W) array of a (1, H, W) or (H, W) hole mask (tensor or array), or raise."""
    arr = mask.detach().cpu().numpy() if _is_tensor(mask) else np.asarray(mask)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise BadInputError(f"a hole mask must be (1, H, W) or (H, W), got shape {arr.shape}")
    return arr


def mask_to_uint8(mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """(1, H, W) or (H, W) hole mask in {0, 1} (bool, int or float) -> (H, W) uint8 with 255 = hole."""
    arr = _hole_2d(mask)
    if arr.dtype == np.uint8 and arr.max(initial=0) > 1:
        values = np.unique(arr)
        if not set(values.tolist()) <= {0, 255}:
            raise BadMaskError(f"uint8 hole mask must hold 0/255 (or 0/1), found {values[:5].tolist()}")
        return arr
    if not np.isin(arr, (0, 1)).all():
        raise BadMaskError("hole mask must be binary {0, 1}; threshold it first (e.g. mask > 0.5)")
    return (arr > 0).astype(np.uint8) * 255


def hole_ratio(mask: torch.Tensor | np.ndarray) -> float:
    """Fraction in [0, 1] of nonzero (hole) pixels of a {0, 1} hole mask or a uint8 {0, 255} array, any shape."""
    arr = mask.detach().cpu().numpy() if _is_tensor(mask) else np.asarray(mask)
    if arr.size == 0:
        raise BadInputError("hole_ratio: empty mask")
    return float(np.count_nonzero(arr) / arr.size)


def as_hole(mask: torch.Tensor | np.ndarray) -> np.ndarray:
    """(H, W) or (1, H, W) hole mask ({0, 1} any dtype, or uint8 {0, 255}) -> (H, W) bool, True = hole."""
    m = _hole_2d(mask)
    return m > (127 if m.dtype == np.uint8 and m.max(initial=0) > 1 else 0.5)


def resize_hole(hole: np.ndarray | torch.Tensor, size: tuple[int, int]) -> np.ndarray | torch.Tensor:
    """The one resize rule for hole masks: a result pixel is a hole when any hole pixel lies under its
    footprint (source rows/columns ``[floor(i*H/h), ceil((i+1)*H/h))``), so no marked pixel is uncovered.

    ``hole``: (H, W) array or (..., H, W) tensor, nonzero = hole; ``size``: (h, w). Returns the same kind,
    dtype and hole value (a tensor {0, 1}; an array 0 and its own 1, True or 255), shape (..., h, w).
    """
    size = (int(size[0]), int(size[1]))
    if tuple(hole.shape[-2:]) == size:
        return hole
    if _is_tensor(hole):
        import torch.nn.functional as F

        lead = hole.shape[:-2]
        flat = (hole != 0).float().reshape(-1, 1, *hole.shape[-2:])
        return (F.adaptive_max_pool2d(flat, size).reshape(*lead, *size) > 0).to(hole.dtype)
    arr = np.asarray(hole)
    marked = arr != 0
    for axis, n in ((0, size[0]), (1, size[1])):  # the footprint is a rectangle: rows, then columns
        m = np.moveaxis(marked, axis, 0)
        total, i = m.shape[0], np.arange(n)
        csum = np.concatenate([np.zeros_like(m[:1], np.int64), np.cumsum(m, axis=0, dtype=np.int64)])
        marked = np.moveaxis(csum[-(-(i + 1) * total // n)] - csum[i * total // n] > 0, 0, axis)
    return marked.astype(arr.dtype) * (arr.max(initial=0) if arr.dtype != bool else True)


def resize_photo(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(..., 3, H, W) photos in [0, 1] -> (..., 3, h, w): bicubic, anti-aliased (like PIL), clamped to [0, 1]."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    import torch.nn.functional as F

    return F.interpolate(x, size=tuple(size), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def grow_hole(mask: torch.Tensor | np.ndarray, pixels: float) -> np.ndarray:
    """The one dilation for hole masks: every pixel whose Euclidean distance to a hole pixel is below
    ``pixels`` + 0.5 (``pixels`` >= 0) becomes a hole. ``mask`` as in :func:`as_hole`; returns (H, W) bool,
    True = hole, containing the input hole (unchanged for ``pixels`` = 0)."""
    if pixels < 0:
        raise BadInputError(f"a hole grows by a margin of >= 0 pixels, got {pixels}")
    hole = as_hole(mask)
    if pixels == 0 or not hole.any():
        return hole.copy()
    import cv2

    dist = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist < pixels + 0.5


def write_mask(path: str | Path, mask: torch.Tensor | np.ndarray, *, overwrite: bool = False) -> Path:
    """Write a hole mask ((1, H, W) or (H, W) in {0, 1}, 1 = hole) as a single-channel PNG, 255 = hole."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise BadInputError(f"{where(path)}: hole masks are always written as lossless .png files")
    data = encode_image(Image.fromarray(mask_to_uint8(mask), mode="L"), "PNG")
    return atomic_write_bytes(path, data, overwrite=overwrite)


def list_images(folder: str | Path, *, recursive: bool = True) -> list[Path]:
    """Sorted files in ``folder`` with an :data:`IMAGE_SUFFIXES` suffix (any case, not hidden), recursively by
    default; a single file is returned as [file]."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise BadInputError(f"{where(folder)} is neither an image file nor a folder")
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
