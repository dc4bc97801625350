"""Automatic prompts from landmarks, folder segmentation in the dataset layout, and the CLI (random-weight SAM)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import segment_support as sup
import torch

from triple_dots.cli import main
from triple_dots.errors import BadInputError, NoFaceError, OutputExistsError
from triple_dots.images import grow_hole, read_mask, write_image
from triple_dots.masks import detect_faces
from triple_dots.segment import (
    ImplausibleHoleError,
    auto_points,
    hole_problems,
    keypoint_points,
    segment_folder,
    segment_photo,
)

pytestmark = pytest.mark.slow  # shares the one vit_b embedding with test_segment.py


@pytest.fixture(scope="module")
def faces():
    found = detect_faces(sup.photo())
    assert len(found) == 1
    return found


def test_auto_points_sit_on_the_mask_area_and_off_the_eyes(faces) -> None:
    lm = faces[0].landmarks
    pts = auto_points(lm, tuple(sup.photo().shape[-2:]))
    pos = [(x, y) for x, y, label in pts if label == 1]
    neg = [(x, y) for x, y, label in pts if label == 0]
    assert len(pos) == 3 and len(neg) == 3
    eye_line = lm[36:48, 1].max()
    assert all(y > eye_line for _, y in pos), "positive points are below the eyes"
    assert pos[0] == pytest.approx(tuple(lm[30]))  # nose tip
    x0, y0, x1, y1 = faces[0].box
    assert all(x0 <= x <= x1 and y <= lm[8, 1] for x, y in pos), "inside the face, above the jaw point"
    assert neg[2][1] < lm[17:27, 1].min(), "the forehead point is above the brows"
    for (ex, ey), idx in zip(neg[:2], (range(36, 42), range(42, 48))):
        assert np.hypot(ex - lm[list(idx), 0].mean(), ey - lm[list(idx), 1].mean()) < 1e-6


def test_auto_points_drop_points_outside_and_check_shape(faces) -> None:
    lm = faces[0].landmarks.copy()
    lm[:, 1] -= lm[17:27, 1].min() - 5  # brows at y = 5: the forehead point falls off the photo
    pts = auto_points(lm, tuple(sup.photo().shape[-2:]))
    assert len(pts) == 5 and sum(p[2] == 0 for p in pts) == 2
    with pytest.raises(BadInputError, match=r"\(68, 2\)"):
        auto_points(np.zeros((5, 2)))


def test_keypoint_points_sit_between_the_nose_bridge_and_the_chin(faces) -> None:
    kp = faces[0].keypoints
    pts = keypoint_points(kp, tuple(sup.photo().shape[-2:]))
    assert [p[2] for p in pts] == [1, 1, 1, 0, 0, 0]
    eye_y = max(kp["eye_image_left"][1], kp["eye_image_right"][1])
    ys = [y for _, y, label in pts if label == 1]
    assert all(eye_y < y < kp["chin"][1] for y in ys) and ys == sorted(ys)
    assert pts[3][:2] == pytest.approx(tuple(kp["eye_image_left"])) and pts[5][1] < eye_y - 0.5 * kp.eye_distance


def test_hole_problems_on_drawn_holes(faces) -> None:
    kp = faces[0].keypoints
    h, w = sup.photo().shape[-2:]
    mask_like = np.zeros((h, w), bool)
    lm = faces[0].landmarks  # the mask area: nose bridge to chin, jaw-wide
    x0, x1 = int(lm[3, 0]), int(lm[13, 0])
    mask_like[int(lm[28, 1]) + 10:int(lm[8, 1]), x0:x1] = True
    assert hole_problems(mask_like, kp) == []
    whole_face = mask_like.copy()
    whole_face[max(0, int(kp["eye_image_left"][1]) - 150):, x0:x1] = True
    found = " ".join(hole_problems(whole_face, kp))
    assert "eye" in found and "forehead" in found
    elsewhere = np.zeros((h, w), bool)
    elsewhere[h - 40:, :60] = True  # a blob in the corner, nowhere near the face
    found = " ".join(hole_problems(elsewhere, kp))
    assert "middle of the mask area" in found and "lower face" in found
    assert hole_problems(np.zeros((h, w), bool), kp) == ["the hole is empty"]


def test_segment_photo_uses_the_keypoint_prompts(faces) -> None:
    seg = sup.segmenter()
    runs = seg.encoder_runs
    result = segment_photo(seg, sup.photo(), faces=faces, margin=5, check=False)
    assert seg.encoder_runs == runs, "same photo: the cached embedding is reused"
    h, w = seg.size
    assert result.hole_mask.shape == (1, h, w) and set(result.hole_mask.unique().tolist()) <= {0.0, 1.0}
    assert result.points == [keypoint_points(faces[0].keypoints, (h, w))]
    seg.segment(result.points[0])
    expected = grow_hole(seg.raw_mask(), 5)
    assert np.array_equal(result.hole_mask[0].numpy() > 0.5, expected)
    # Faces without keypoints (e.g. from older meta files) still get the 68-landmark prompts.
    bare = [type(faces[0])(box=faces[0].box, landmarks=faces[0].landmarks, score=faces[0].score)]
    assert segment_photo(seg, sup.photo(), faces=bare, check=False).points == [auto_points(faces[0].landmarks, (h, w))]


def test_a_hole_that_is_not_a_mask_is_reported(faces) -> None:
    """The random-weight SAM returns a hole over most of the photo: the check must refuse it."""
    seg = sup.segmenter()
    seg.segment(keypoint_points(faces[0].keypoints, seg.size))
    assert hole_problems(seg.raw_mask(), faces[0].keypoints), "the random SAM's hole is not mask-like"
    with pytest.raises(ImplausibleHoleError, match=r"does not look like a worn mask.*click the mask instead"):
        segment_photo(seg, sup.photo(), faces=faces, source="hopper.jpg")


def test_photo_without_a_face_in_auto_mode() -> None:
    seg = sup.segmenter()
    flat = torch.full((3, 96, 128), 0.5)
    runs = seg.encoder_runs
    with pytest.raises(NoFaceError, match=r"no face found in 'blank.png'.*click the mask instead"):
        segment_photo(seg, flat, source="blank.png")
    assert seg.encoder_runs == runs, "no embedding is computed for a photo without a face"


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    (d / "hopper.jpg").write_bytes(sup.photo_path().read_bytes())
    write_image(d / "blank.png", torch.full((3, 80, 100), 0.4))
    return d


def test_segment_folder_writes_the_dataset_layout(folder, tmp_path) -> None:
    seg = sup.segmenter()
    out = tmp_path / "dataset"
    checked = segment_folder(folder, tmp_path / "checked", segmenter=seg, margin=4, progress=False)
    assert checked.written == [] and sorted(p.name for p, _ in checked.failed) == ["blank.png", "hopper.jpg"]
    assert "does not look like a worn mask" in dict((p.name, r) for p, r in checked.failed)["hopper.jpg"]
    report = segment_folder(folder, out, segmenter=seg, margin=4, progress=False, check=False)
    assert report.written == ["hopper"]
    assert [p.name for p, _ in report.failed] == ["blank.png"] and "no face" in report.failed[0][1]
    assert (out / "images" / "hopper.jpg").read_bytes() == (folder / "hopper.jpg").read_bytes()
    mask = read_mask(out / "masks" / "hopper.png")
    assert mask.shape == (1, *seg.size)
    meta = json.loads((out / "meta" / "hopper.json").read_text())
    assert meta["mask_type"] == "real" and meta["margin"] == 4
    assert meta["image_size"] == [seg.size[1], seg.size[0]]
    assert meta["hole_ratio"] == pytest.approx(float(mask.mean()), abs=1e-5)
    assert len(meta["faces"]) == 1 and len(meta["faces"][0]["landmarks"]) == 68
    assert [p[2] for p in meta["faces"][0]["sam_points"]] == [1, 1, 1, 0, 0, 0]
    assert not (out / "masks" / "blank.png").exists()
    # a second run refuses to overwrite, before any work, and leaves the files alone
    before = (out / "masks" / "hopper.png").read_bytes()
    with pytest.raises(OutputExistsError, match="overwrite"):
        segment_folder(folder, out, segmenter=seg, progress=False)
    assert (out / "masks" / "hopper.png").read_bytes() == before


def test_segment_folder_checks_inputs_first(folder, tmp_path) -> None:
    seg = sup.segmenter()
    with pytest.raises(BadInputError, match="inside the input folder"):
        segment_folder(folder, folder / "out", segmenter=seg, progress=False)
    (folder / "sub").mkdir()
    write_image(folder / "sub" / "hopper.png", torch.zeros(3, 8, 8))
    with pytest.raises(BadInputError, match="same name 'hopper'"):
        segment_folder(folder, tmp_path / "o", segmenter=seg, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match="no photos found"):
        segment_folder(empty, tmp_path / "o3", segmenter=seg, progress=False)


# ---------------------------------------------------------------- CLI
def _cli(*args: str) -> int:
    return main(["segment", *args, "--checkpoint", str(sup.sam_checkpoint()), "--cache-dir", str(sup.cache_dir())])


def test_cli_auto(folder, tmp_path, capsys) -> None:
    sup.segmenter()  # the embedding is on disk: the CLI does not recompute it
    out = tmp_path / "auto"
    assert _cli("--auto", str(folder), str(out), "--margin", "3", "--no-check") == 1  # one photo skipped
    err = capsys.readouterr().err
    assert "skipped" in err and "blank.png" in err and "no face" in err
    assert read_mask(out / "masks" / "hopper.png").shape == (1, *sup.segmenter().size)
    only_blank = tmp_path / "blank_only"
    only_blank.mkdir()
    (folder / "blank.png").rename(only_blank / "blank.png")
    assert _cli("--auto", str(only_blank), str(tmp_path / "auto2")) == 2
    assert "no photo in" in capsys.readouterr().err


def test_cli_points(tmp_path, capsys) -> None:
    seg = sup.segmenter()
    h, w = seg.size
    out = tmp_path / "pts"
    photo = str(sup.photo_path())
    assert _cli("--point", f"{w // 2},{int(h * 0.6)}", "--point", f"{w // 2},{int(h * 0.2)},0", photo, str(out),
                "--margin", "5") == 0
    seg.set_image(sup.photo())
    expected = seg.segment([(w // 2, int(h * 0.6), 1), (w // 2, int(h * 0.2), 0)], margin=5)
    assert torch.equal(read_mask(out / "masks" / f"{sup.PHOTO}.png"), expected)
    meta = json.loads((out / "meta" / f"{sup.PHOTO}.json").read_text())
    assert meta["sam_points"] == [[w // 2, int(h * 0.6), 1], [w // 2, int(h * 0.2), 0]]
    assert _cli("--point", f"{w + 10},5", photo, str(tmp_path / "bad")) == 2
    assert "outside the photo" in capsys.readouterr().err
    assert _cli("--point", "5,5,0", photo, str(tmp_path / "neg")) == 2
    assert "no positive click" in capsys.readouterr().err


def test_cli_wrong_model_type(tmp_path, capsys) -> None:
    assert _cli("--auto", str(sup.photo_path()), str(tmp_path / "x"), "--model", "vit_h") == 2
    err = capsys.readouterr().err
    assert "is a SAM vit_b checkpoint, not vit_h" in err and "--model vit_b" in err
