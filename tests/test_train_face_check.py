"""tools/train_face_check.py: its crops are the face check's own, and evaluation photos stay out."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from triple_dots.images import read_image_uint8
from triple_dots.masks.detect import CHECK_CROP, CHECK_PX, square_crop, yunet_faces
from triple_dots.samples import sample_path

sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))
import train_face_check as tool  # noqa: E402


def test_training_crops_are_what_the_check_sees_at_run_time() -> None:
    path = sample_path("grace_hopper")
    _, crops, thumb = tool.detections((path, 0.5))
    rgb = read_image_uint8(path)
    faces = yunet_faces(rgb, min_score=0.5)
    assert crops.shape == (len(faces), round(tool.MARGIN * CHECK_PX), round(tool.MARGIN * CHECK_PX), 3) and faces
    for crop, face in zip(crops, faces):
        run_time, _ = square_crop(rgb, face.box, CHECK_CROP, CHECK_PX)
        centre = tool.centre(torch.from_numpy(crop).permute(2, 0, 1)).permute(1, 2, 0).numpy()
        assert np.abs(centre.astype(int) - run_time.astype(int)).max() <= 1  # the same pixel grid
    assert abs(float(np.linalg.norm(thumb)) - 1) < 1e-3


def test_photos_near_an_excluded_one_are_left_out(tmp_path) -> None:
    paths = [sample_path(n) for n in ("obama", "biden")]
    exclude = np.array([tool.thumb(read_image_uint8(paths[0]))])
    crops, groups = tool.gather(paths, 0.5, exclude)
    assert crops and set(groups) == {1}  # obama's photo is out, biden's is in


def test_model_takes_the_check_crop() -> None:
    out = tool.FaceCheck()(tool.augment(torch.rand(4, 3, 80, 80)))
    assert out.shape == (4, 1) and torch.isfinite(out).all()
