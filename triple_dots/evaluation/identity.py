"""Identity similarity: cosine in [-1, 1] of dlib 128-d face embeddings, both aligned on the true face's landmarks."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from triple_dots import weights
from triple_dots.errors import NoFaceError
from triple_dots.images import as_rgb_uint8


@lru_cache(maxsize=2)
def _recognizer(path: str):
    import dlib

    return dlib.face_recognition_model_v1(path)


def find_landmarks(
    image: torch.Tensor | np.ndarray, *, upsample: int = 1
) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Largest face in ``image`` ((3, H, W) [0, 1] or (H, W, 3) uint8): (box (x0, y0, x1, y1), landmarks (68, 2))."""
    from triple_dots.masks.landmarks import detect_faces

    faces = detect_faces(as_rgb_uint8(image), upsample=upsample, detector="hog")
    if not faces:
        raise NoFaceError("no face found in the image")
    f = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    return tuple(int(v) for v in f.box), np.asarray(f.landmarks, dtype=np.float64)  # type: ignore[return-value]


class FaceEmbedder:
    """dlib face-recognition ResNet: aligned face -> 128-d descriptor (``model_path`` default: the registry's)."""

    def __init__(self, model_path: str | Path | None = None) -> None:
        self.path = weights.locate("dlib-face-recognition", model_path)
        self._model = _recognizer(str(self.path))

    def embed(self, image: torch.Tensor | np.ndarray,
              face: tuple[tuple[int, int, int, int], np.ndarray] | None = None) -> np.ndarray:
        """128-d descriptor of the face in ``image``, aligned on ``face`` = (box, landmarks (68, 2)) or the largest."""
        import dlib

        arr = as_rgb_uint8(image)
        box, pts = face if face is not None else find_landmarks(arr)
        rect = dlib.rectangle(*[int(v) for v in box])
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
        return np.asarray(self._model.compute_face_descriptor(arr, shape), dtype=np.float64)

    def similarity(self, image_a: torch.Tensor | np.ndarray, image_b: torch.Tensor | np.ndarray, *,
                   same_geometry: bool = False) -> float:
        """Cosine similarity of the faces in two images; ``same_geometry``: ``image_b``'s landmarks align both."""
        face_b = find_landmarks(image_b)
        emb_b = self.embed(image_b, face_b)
        return cosine(self.embed(image_a, face_b if same_geometry else None), emb_b)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors, in [-1, 1]."""
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))

