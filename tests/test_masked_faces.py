"""The masked-face front end: YuNet + dlib HOG finds what HOG found, masked faces, and never crashes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from triple_dots.errors import BadInputError, MissingWeightsError
from triple_dots.images import read_image_uint8
from triple_dots.masks import apply_mask, detect, detect_faces
from triple_dots.masks.detect import (
    BORDER_PAD,
    CHECK_LOGIT,
    KEYPOINT_NAMES,
    SURE_SCORE,
    YUNET_PATH,
    Keypoints,
    face_check_logit,
    yunet_faces,
)
from triple_dots.samples import SAMPLE_NAMES, sample_path

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def samples() -> dict[str, np.ndarray]:
    return {name: read_image_uint8(sample_path(name)) for name in SAMPLE_NAMES}


def _inside(p, box) -> bool:
    return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]


def test_bundled_model_is_the_opencv_zoo_file() -> None:
    import hashlib

    digest = hashlib.sha256(YUNET_PATH.read_bytes()).hexdigest()
    assert digest == "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"


def test_finds_at_least_what_hog_finds_with_the_same_landmarks(samples) -> None:
    for name, rgb in samples.items():
        old = detect_faces(rgb, detector="hog")
        new = detect_faces(rgb)
        assert len(new) >= len(old) >= 1, name
        for o in old:  # the same face, box and landmarks: mask synthesis draws exactly as before
            same = [f for f in new if f.box == o.box]
            assert len(same) == 1 and np.array_equal(same[0].landmarks, o.landmarks), name
            assert same[0].source == "hog+yunet"
            kp = same[0].keypoints
            assert kp.points.shape == (len(KEYPOINT_NAMES), 2)
            # YuNet's eyes agree with dlib's eye landmarks within a fifth of the eye distance
            dl = Keypoints.from_landmarks(o.landmarks)
            err = np.hypot(*(kp.points[:2] - dl.points[:2]).T).max()
            assert err < 0.2 * dl.eye_distance, (name, err)


@pytest.mark.parametrize("mask_type", ["n95", "cloth"])
def test_synthetic_masked_face_is_found_with_keypoints_in_the_box(samples, mask_type) -> None:
    """Masks dlib's HOG cannot see through: the face must still be found, eyes and nose bridge in the box."""
    missed_by_hog = 0
    for name in ("grace_hopper", "biden", "obama2"):
        rgb = samples[name]
        truth = detect_faces(rgb, detector="hog")[0]
        masked = apply_mask(rgb, mask_type, faces=[truth], seed=3)
        img = np.ascontiguousarray((masked.image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
        missed_by_hog += not detect_faces(img, detector="hog")
        faces = detect_faces(img)
        assert len(faces) == 1, name
        f = faces[0]
        assert f.landmarks.shape == (68, 2)
        for key in ("eye_image_left", "eye_image_right", "nose_bridge"):
            assert _inside(f.keypoints[key], f.box), (name, key)
        true_kp = Keypoints.from_landmarks(truth.landmarks)
        ed = true_kp.eye_distance
        assert np.hypot(*(f.keypoints.points[:2] - true_kp.points[:2]).T).max() < 0.35 * ed, name  # within an eye
        assert np.hypot(*(f.keypoints["chin"] - true_kp["chin"])) < 0.8 * ed, name  # an estimate under the mask
    assert missed_by_hog >= 2  # these photos really test the new detector


def test_close_up_cut_by_the_border_is_found(samples) -> None:
    """A masked close-up whose forehead and chin are cut off by the photo's edge, as in many real photos."""
    border_helped = 0
    for name, mask_type in (("obama", "n95"), ("obama2", "cloth"), ("biden", "n95")):
        rgb = samples[name]
        truth = detect_faces(rgb, detector="hog")[0]
        masked = apply_mask(rgb, mask_type, faces=[truth], seed=3)
        img = (masked.image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        kp = Keypoints.from_landmarks(truth.landmarks)
        ed, (mx, my) = kp.eye_distance, kp.points[:2].mean(0)
        x0, y0 = int(mx - 1.2 * ed), int(my - 0.5 * ed)  # from mid-forehead to just below the nose
        crop = np.ascontiguousarray(img[y0:int(my + ed), x0:int(mx + 1.2 * ed)])
        faces = detect_faces(crop)
        assert len(faces) == 1, name
        f = faces[0]
        err = np.hypot(*(f.keypoints.points[:2] - (kp.points[:2] - (x0, y0))).T).max()
        assert err < 0.35 * ed, (name, err)
        assert f.keypoints["chin"][1] > crop.shape[0]  # the whole face, beyond the cut
        best = [max((y.score for y in yunet_faces(crop, border_pad=p)), default=0.0) for p in (0.0, BORDER_PAD)]
        border_helped += best[0] < SURE_SCORE <= best[1]
    assert border_helped >= 1  # the bordered pass, not luck, finds at least one of them


def _masked(rgb: np.ndarray, mask_type: str) -> np.ndarray:
    masked = apply_mask(rgb, mask_type, faces=detect_faces(rgb, detector="hog")[:1], seed=3)
    return np.ascontiguousarray((masked.image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def test_face_check_passes_faces_masked_or_not_and_rejects_a_cat(samples) -> None:
    for name, rgb in samples.items():
        for img in (rgb, _masked(rgb, "n95")):
            faces = [y for y in yunet_faces(img) if y.score >= 0.6]
            assert faces and all(face_check_logit(img, y.box) >= CHECK_LOGIT for y in faces), name
    cat = read_image_uint8(FIXTURES / "chelsea.jpg")
    boxes = [y.box for y in yunet_faces(cat, min_score=0.2)]  # YuNet's weak guesses on the cat's face
    assert boxes and all(face_check_logit(cat, b) < CHECK_LOGIT for b in boxes)


def test_a_face_the_check_rejects_is_not_found_unless_hog_is_sure_of_it(samples, monkeypatch) -> None:
    rgb = samples["grace_hopper"]
    masked = _masked(rgb, "n95")
    blurred = cv2.GaussianBlur(rgb, (0, 0), 7.7)  # dlib's HOG still sees the face, but weakly
    assert detect_faces(masked) and not detect_faces(masked, detector="hog")
    assert [f.source for f in detect_faces(blurred)] == ["hog+yunet"]
    assert detect_faces(blurred, detector="hog")[0].score < 0.5
    monkeypatch.setattr(detect, "face_check_logit", lambda *a, **k: CHECK_LOGIT - 1)
    assert detect_faces(masked) == []  # YuNet's face alone needs the check
    assert detect_faces(blurred) == []  # and so does a weak HOG face YuNet confirms
    assert len(detect_faces(rgb)) == 1  # a face dlib's HOG is sure of stays found


def test_a_hog_face_yunet_does_not_see_is_dropped(samples, monkeypatch) -> None:
    """dlib's false faces (a toy car, a pill bottle) have no YuNet detection on them; real faces do."""
    from triple_dots.masks import landmarks

    rgb = samples["obama"]
    monkeypatch.setattr(landmarks, "yunet_faces", lambda *a, **k: [])
    assert detect_faces(rgb) == []
    assert [f.source for f in detect_faces(rgb, keep_implausible=True)] == ["hog"]  # kept when asked to
    assert len(detect_faces(rgb, detector="hog")) == 1


def test_missing_face_check_model_names_the_file(samples, tmp_path) -> None:
    with pytest.raises(MissingWeightsError, match="face_check.onnx"):
        face_check_logit(samples["obama"], (0, 0, 50, 50), model_path=tmp_path / "face_check.onnx")


def test_face_free_images_have_no_face(samples) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    gradient = np.repeat(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], 480, 0).repeat(3, 2)
    blank = np.full((300, 300, 3), 128, np.uint8)
    for img in (noise, gradient, blank):
        assert detect_faces(img) == []


def test_tiny_huge_and_many_faces_do_not_crash(samples) -> None:
    for shape in ((1, 1, 3), (5, 7, 3), (12, 3000, 3)):
        assert detect_faces(np.zeros(shape, np.uint8)) == []
    rgb = samples["obama"]
    huge = cv2.resize(rgb, (rgb.shape[1] * 4, rgb.shape[0] * 4), interpolation=cv2.INTER_LINEAR)  # 16.5 MP
    faces = detect_faces(huge)
    small = detect_faces(rgb)
    assert len(faces) == 1
    assert np.abs(np.array(faces[0].box) - 4 * np.array(small[0].box)).max() < 0.1 * 4 * (small[0].box[2] - small[0].box[0])
    # a 3 x 3 grid of small faces (about 70 px each)
    tile = cv2.resize(samples["grace_hopper"], (160, 188), interpolation=cv2.INTER_AREA)
    grid = np.ascontiguousarray(np.concatenate([np.concatenate([tile] * 3, 1)] * 3, 0))
    assert len(yunet_faces(grid)) == 9
    assert len(detect_faces(grid)) == 9


def test_unknown_detector_name() -> None:
    with pytest.raises(BadInputError, match="detector"):
        detect_faces(np.zeros((50, 50, 3), np.uint8), detector="mtcnn")


def test_keypoints_json(samples) -> None:
    face = detect_faces(samples["astronaut"])[0]
    js = face.to_json()
    assert js["source"] == "hog+yunet" and set(js["keypoints"]) == set(KEYPOINT_NAMES)
