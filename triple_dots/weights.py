"""The registry of every pretrained file triple_dots can use, and the one way to find them (:func:`locate`).

Nothing is downloaded by the library: users fetch the files once (see ``triple-dots weights``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from triple_dots.errors import BadWeightsError, MissingWeightsError, where

TFILL_FILES: tuple[str, ...] = ("latest_net_E.pth", "latest_net_T.pth", "latest_net_G.pth", "latest_net_G_Ref.pth")
_TFILL_URL = "https://github.com/lyndonzheng/TFill#pretrained-models (Google Drive folder per dataset)"
_MAT_URL = (
    "https://mycuhk-my.sharepoint.com/:f:/g/personal/1155137927_link_cuhk_edu_hk/"
    "EuY30ziF-G5BvwziuHNFzDkBVC6KBPRg69kCeHIu-BXORA?e=7OwJyE (One Drive folder linked from "
    "https://github.com/fenglinglwb/MAT#pretrained-models)"
)
_TORCHVISION_LICENCE = "BSD-3 (torchvision); ImageNet terms apply"


def home() -> Path:
    """The folder for downloaded weights: ``$TRIPLE_DOTS_HOME`` or ``~/.cache/triple_dots``."""
    env = os.environ.get("TRIPLE_DOTS_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "triple_dots"


def torch_hub_checkpoints() -> Path:
    """Where torch hub caches files: ``$TORCH_HOME/hub/checkpoints`` (default ``~/.cache/torch``)."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(str(Path.home()), ".cache")), "torch"
    )
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def _package_file(package: str, *parts: str) -> Path | None:
    """A data file inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0], *parts)


@dataclass(frozen=True)
class WeightFile:
    """One pretrained file (or folder of ``files``) under ``home()/filename``, and where it comes from.

    ``size_bytes`` and ``sha256`` (or the torch-hub style ``sha256_prefix`` in the file name) are checked
    when known; ``extra_locations`` return further places to look (package data, torch hub).
    """

    key: str
    description: str
    filename: str
    url: str
    licence: str
    files: tuple[str, ...] = ()
    size_bytes: int | None = None
    sha256: str | None = None
    sha256_prefix: str | None = None
    extra_locations: tuple[Callable[[], Path | None], ...] = field(default=(), compare=False, repr=False)

    @property
    def is_folder(self) -> bool:
        return bool(self.files)

    def default_path(self) -> Path:
        """Where the user is told to put it: ``home()/filename``."""
        return home() / self.filename

    def candidates(self) -> list[Path]:
        """Every place :func:`locate` looks, in order."""
        extra = (fn() for fn in self.extra_locations)
        return [self.default_path(), *(p for p in extra if p is not None)]

    def is_complete(self, path: Path) -> bool:
        """True when ``path`` holds this entry (a non-empty file, or a folder with every required file)."""
        if self.is_folder:
            return path.is_dir() and all((path / f).is_file() for f in self.files)
        return path.is_file() and path.stat().st_size > 0

    def missing_message(self, looked: list[Path]) -> str:
        what = f"the files {', '.join(self.files)} in a folder" if self.is_folder else f"'{self.filename}'"
        tried = ", ".join(str(p) for p in looked)
        return (
            f"missing weights '{self.key}' ({self.description}): download {what} from {self.url} "
            f"and put it at {self.default_path()} (or pass its path explicitly). Looked in: {tried}"
        )


def how_to_get(key: str) -> str:
    """Short instructions for ``key``: which files, from where, to which folder (one item per line)."""
    entry = get(key)
    target = entry.default_path()
    names = entry.files if entry.is_folder else (Path(entry.filename).name,)
    into = f"into {target}/" if entry.is_folder else f"to {target}"
    return "\n".join([f"download {len(names)} file{'s' * (len(names) > 1)} of '{key}': {', '.join(names)}",
                      f"  from {entry.url}", f"  {into} (or set TRIPLE_DOTS_HOME to move {home()})"])


REGISTRY: dict[str, WeightFile] = {
    w.key: w
    for w in [
        *(
            WeightFile(
                f"tfill-{name}",
                f"TFill released model trained on {dataset} (coarse E/T/G + refine G_Ref; D/D_Ref for training)",
                f"tfill/{name}", _TFILL_URL, "MIT; authors ask for educational/academic use only", files=TFILL_FILES,
            )
            for name, dataset in [("ffhq", "FFHQ faces"), ("celeba", "CelebA-HQ faces"),
                                  ("places2", "Places2 scenes"), ("imagenet", "ImageNet")]
        ),
        *(
            WeightFile(
                f"mat-{name}",
                f"MAT released generator trained on {dataset} (official .pkl; read without executing it)",
                f"mat/{filename}", _MAT_URL, "CC BY-NC 4.0 (non-commercial; authors: research purposes only)",
            )
            for name, filename, dataset in [
                ("celeba-hq-512", "CelebA-HQ_512.pkl", "CelebA-HQ faces, 512x512"),
                ("celeba-hq-256", "CelebA-HQ_256.pkl", "CelebA-HQ faces, 256x256"),
                ("ffhq-512", "FFHQ_512.pkl", "FFHQ faces, 512x512"),
                ("places-512", "Places_512_FullData.pkl", "Places365 (full 8M-image data), 512x512"),
            ]
        ),
        *(
            WeightFile(f"sam-{model}", f"Segment Anything {what}", f"sam_{model}_{sha}.pth",
                       f"https://dl.fbaipublicfiles.com/segment_anything/sam_{model}_{sha}.pth", "Apache-2.0")
            for model, sha, what in [("vit_b", "01ec64", "ViT-B (click-to-segment the real mask)"),
                                     ("vit_l", "0b3195", "ViT-L"), ("vit_h", "4b8939", "ViT-H (best quality, 2.5 GB)")]
        ),
        *(  # torch-hub style files (name-<sha256 prefix>.pth), also found in torch's hub cache
            WeightFile(key, description, filename, url + filename, licence,
                       sha256_prefix=filename.rsplit("-", 1)[1].split(".")[0],
                       extra_locations=(lambda filename=filename: torch_hub_checkpoints() / filename,))
            for key, description, filename, url, licence in [
                ("fid-inception", "FID Inception-v3 weights used by pytorch-fid (evaluation)",
                 "pt_inception-2015-12-05-6726825d.pth",
                 "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/",
                 "Apache-2.0 (pytorch-fid port of the TF Inception graph)"),
                ("vgg16", "torchvision VGG16 ImageNet backbone for the LPIPS-VGG perceptual loss (training)",
                 "vgg16-397923af.pth", "https://download.pytorch.org/models/", _TORCHVISION_LICENCE),
                ("alexnet", "torchvision AlexNet ImageNet backbone for the LPIPS metric (evaluation)",
                 "alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/", _TORCHVISION_LICENCE),
            ]
        ),
        WeightFile(
            key="dlib-landmarks68",
            description="dlib 68-point face landmark predictor (mask synthesis, automatic SAM prompts)",
            filename="shape_predictor_68_face_landmarks.dat",
            url="pip install face_recognition_models (ships it), or Debian's libdlib-data, or "
            "http://dlib.net/files/shape_predictor_68_face_landmarks.dat.bz2 (unpack it)",
            licence="CC0 per dlib; trained on iBUG 300-W (non-commercial terms)",
            size_bytes=99_693_937,
            sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
            extra_locations=(
                lambda: _package_file("face_recognition_models", "models", "shape_predictor_68_face_landmarks.dat"),
                lambda: Path("/usr/share/dlib/shape_predictor_68_face_landmarks.dat"),
            ),
        ),
        WeightFile(
            key="dlib-face-recognition",
            description="dlib face-recognition ResNet (identity similarity in evaluation)",
            filename="dlib_face_recognition_resnet_model_v1.dat",
            url="pip install face_recognition_models (ships it), or "
            "http://dlib.net/files/dlib_face_recognition_resnet_model_v1.dat.bz2 (unpack it)",
            licence="CC0 per dlib",
            size_bytes=22_466_066,
            extra_locations=(
                lambda: _package_file("face_recognition_models", "models", "dlib_face_recognition_resnet_model_v1.dat"),
            ),
        ),
    ]
}


def get(key: str) -> WeightFile:
    """The registry entry for ``key``; unknown keys raise a :class:`KeyError` listing the known ones."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown weights {key!r}; known: {', '.join(REGISTRY)}") from None


def find(key: str) -> Path | None:
    """The first complete location of ``key``, or None."""
    entry = get(key)
    return next((p for p in entry.candidates() if entry.is_complete(p)), None)


def locate(key: str, path: str | Path | None = None) -> Path:
    """The path of weights ``key``: ``path`` if given (it must be complete), else the first complete candidate;
    otherwise :class:`MissingWeightsError` saying what to do."""
    entry = get(key)
    if path is not None:
        p = Path(path).expanduser()
        if not entry.is_complete(p):
            raise MissingWeightsError(entry.missing_message([p]))
        return p
    found = find(key)
    if found is None:
        raise MissingWeightsError(entry.missing_message(entry.candidates()))
    return found


def sha256_of(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify(key: str, path: str | Path | None = None) -> Path:
    """Locate ``key`` and check its size / sha256 where known, else raise :class:`BadWeightsError` naming the file."""
    entry = get(key)
    p = locate(key, path)
    if entry.is_folder:
        return p
    if entry.size_bytes is not None and p.stat().st_size != entry.size_bytes:
        raise BadWeightsError(
            f"{where(p)} has {p.stat().st_size} bytes, expected {entry.size_bytes} for '{key}': "
            "the download is probably incomplete; fetch it again"
        )
    expected = entry.sha256 or entry.sha256_prefix
    if expected:
        digest = sha256_of(p)
        if not digest.startswith(expected):
            raise BadWeightsError(f"{where(p)} has sha256 {digest[:16]}..., expected {expected[:16]}... for '{key}'")
    return p


def status() -> list[tuple[WeightFile, Path | None]]:
    """Every registry entry with the path where it was found (None when missing)."""
    return [(entry, find(entry.key)) for entry in REGISTRY.values()]
