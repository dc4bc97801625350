"""MAT architecture: official state-dict layout, computed buffers, inpaint() behaviour and bad inputs."""

from __future__ import annotations

import pytest
import torch
from mat_support import FIXTURES, IN_REPO_REFERENCE, SHARED_MAT, key_list, reference_model, tiny_model

from triple_dots.errors import BadInputError, BadMaskError, SizeMismatchError
from triple_dots.mat import MAT, square_padding
from triple_dots.mat.ops import make_resample_filter
from triple_dots.mat.transformer import shifted_window_mask

# one intra-op thread: MAT runs many small ops, which oversubscribe a shared 2-core machine
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("resolution", [256, 512])
def test_state_dict_keys_and_shapes_are_official(resolution: int) -> None:
    with torch.device("meta"):
        model = MAT(resolution)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == key_list(resolution)  # same keys, same shapes, same order
    assert all(v.dtype == torch.float32 for v in model.state_dict().values())
    assert model.synthesis.num_layers == model.mapping.num_ws == 2 * resolution.bit_length() - 8


@pytest.mark.skipif(not SHARED_MAT.is_dir(), reason=f"shared reference not found at {SHARED_MAT}")
@pytest.mark.parametrize("resolution", [256, 512])
def test_in_repo_key_lists_equal_shared(resolution: int) -> None:
    name = f"state_dict_keys_{resolution}.txt"
    assert (FIXTURES / f"mat_{name}").read_text() == (SHARED_MAT / name).read_text()


def test_computed_buffers_equal_official() -> None:
    ref = torch.load(IN_REPO_REFERENCE, weights_only=True)
    state = MAT(256).state_dict()
    blocked, filters = ref["attn_mask_blocked"], ref["resample_filter"]
    assert len(blocked) == 4 and len(filters) > 50
    assert {k for k in state if k.endswith(("attn_mask", "resample_filter"))} == set(blocked) | set(filters)
    for key, mask in blocked.items():
        assert torch.equal(state[key], torch.where(mask, -100.0, 0.0)), key
    for key, f in filters.items():
        assert torch.equal(state[key], f), key
    if (SHARED_MAT / "reference_io_256.pt").is_file():
        shared = torch.load(SHARED_MAT / "reference_io_256.pt", weights_only=False)["deterministic_buffers"]
        assert set(shared) == set(blocked) | set(filters)
        for key, value in shared.items():
            assert torch.equal(state[key], value), key


def test_buffer_functions() -> None:
    f = make_resample_filter()
    assert torch.equal(f, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)
    m = shifted_window_mask((16, 16), 8, 4)
    assert m.shape == (4, 64, 64)
    assert bool((m[0] == 0).all())  # the top-left window is one region
    assert set(m.unique().tolist()) == {-100.0, 0.0}


# ---------------------------------------------------------------------------------------------- inpaint
@pytest.fixture(scope="module")
def small() -> MAT:
    """A tiny 128-px MAT (the smallest resolution, narrow widths) for behaviour tests."""
    return tiny_model(128)


def test_full_width_128_runs_and_composites() -> None:
    """The released widths at the smallest resolution: known pixels exact through the whole wrapper."""
    model = reference_model(128)
    img, hole = _photo(70, 90), _hole(70, 90, (10, 40, 20, 60))
    out = model.inpaint(img, hole, seed=0)
    keep = (hole == 0).expand_as(img)
    assert torch.equal(out[keep], img[keep]) and not torch.equal(out, img)


def _photo(h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _hole(h: int, w: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    m = torch.zeros(1, 1, h, w)
    m[..., box[0]:box[1], box[2]:box[3]] = 1
    return m


@pytest.mark.parametrize("size", [(300, 200), (97, 131)])
def test_inpaint_keeps_known_pixels_exactly_at_odd_sizes(small: MAT, size: tuple[int, int]) -> None:
    h, w = size
    img, hole = _photo(h, w), _hole(h, w, (h // 4, h // 2, w // 3, w - 5))
    out = small.inpaint(img, hole, seed=3)
    assert out.shape == img.shape and out.dtype == torch.float32
    known = hole == 0
    assert torch.equal(out.expand_as(img)[known.expand_as(img)], img[known.expand_as(img)])
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert not torch.equal(out, img)  # the hole was filled with something else
    assert torch.equal(out, small.inpaint(img, hole, seed=3))  # seeded: reproducible


def test_inpaint_batch_matches_single(small: MAT) -> None:
    imgs = torch.cat([_photo(96, 160, 1), _photo(96, 160, 2)])
    holes = torch.cat([_hole(96, 160, (10, 50, 20, 90)), torch.zeros(1, 1, 96, 160)])
    out = small.inpaint(imgs, holes, seed=5)
    assert torch.equal(out[1], imgs[1])  # no hole: returned unchanged
    keep = holes[0].expand(3, -1, -1) == 0
    assert torch.equal(out[0][keep], imgs[0][keep])
    single = small.inpaint(imgs[:1], holes[:1], seed=5)
    assert float((single - out[:1]).abs().max()) < 1e-4  # batched modulated convs: same function
    chw = small.inpaint(imgs[0], holes[0, 0], seed=5)  # (3, H, W) with an (H, W) mask
    assert chw.shape == imgs[0].shape and torch.equal(chw, single[0])


def test_inpaint_all_hole_and_no_hole(small: MAT) -> None:
    img = _photo(64, 64)
    assert torch.equal(small.inpaint(img, torch.zeros(1, 1, 64, 64)), img)
    out = small.inpaint(img, torch.ones(1, 1, 64, 64), seed=0)
    assert out.shape == img.shape and bool(torch.isfinite(out).all())


def test_square_padding() -> None:
    assert square_padding(300, 200) == (50, 50, 0, 0)
    assert square_padding(97, 131) == (0, 0, 17, 17)
    assert square_padding(10, 13) == (0, 0, 1, 2)


@pytest.mark.parametrize(
    ("images", "holes", "error", "words"),
    [
        (torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 31), SizeMismatchError, "differs"),
        (torch.rand(1, 3, 32, 32), torch.full((1, 1, 32, 32), 0.5), BadMaskError, "binary"),
        (torch.rand(1, 4, 32, 32), torch.ones(1, 1, 32, 32), BadInputError, "3 colour channels"),
        (torch.full((1, 3, 32, 32), float("nan")), torch.ones(1, 1, 32, 32), BadInputError, "NaN"),
        (torch.rand(1, 3, 32, 32) * 255, torch.ones(1, 1, 32, 32), BadInputError, "[0, 1]"),
        (torch.rand(1, 3, 32, 32), torch.ones(1, 2, 32, 32), BadMaskError, "single-channel"),
        (torch.rand(2, 3, 32, 32), torch.ones(3, 1, 32, 32), SizeMismatchError, "3 hole masks"),
    ],
)
def test_bad_inputs_raise_clear_errors(small: MAT, images, holes, error, words: str) -> None:
    with pytest.raises(error, match=None) as info:
        small.inpaint(images, holes)
    assert words in str(info.value)


def test_bad_noise_mode(small: MAT) -> None:
    with pytest.raises(ValueError, match="noise_mode"):
        small.inpaint(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8), noise_mode="loud")


def test_generator_is_differentiable() -> None:
    """With gradients on, no in-place shortcut breaks autograd (training entry point)."""
    model = tiny_model(128).train()
    img = torch.rand(1, 3, 128, 128) * 2 - 1
    valid = torch.ones(1, 1, 128, 128)
    valid[..., 30:90, 40:100] = 0
    out, stage1 = model(img, valid, torch.randn(1, 32), noise_mode="random")
    (out.square().mean() + stage1.square().mean()).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)
    assert float(model.synthesis.first_stage.conv_first.conv.weight.grad.abs().sum()) > 0


def test_cached_weights_follow_parameter_updates(small: MAT) -> None:
    img, hole = _photo(64, 64), _hole(64, 64, (10, 40, 10, 40))
    before = small.inpaint(img, hole, seed=1)
    state = {k: v.clone() for k, v in small.state_dict().items()}
    try:
        with torch.no_grad():
            small.synthesis.dec.Dec_128x128.toRGB.bias.add_(0.5)
        after = small.inpaint(img, hole, seed=1)
        assert not torch.equal(before, after)
    finally:
        small.load_state_dict(state)
    assert torch.equal(small.inpaint(img, hole, seed=1), before)


@pytest.mark.parametrize("noise_mode", ["const", "random"])
def test_box_computation_equals_full_computation(monkeypatch: pytest.MonkeyPatch, noise_mode: str) -> None:
    """The last layers computed on the hole's (grown) bounding boxes only give the full computation's result."""
    from triple_dots.mat import synthesis, transformer

    small = tiny_model(128)
    with torch.no_grad():
        for name, p in small.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(1.0)  # make the noise matter (it is 0 at init)

    img = torch.rand(2, 3, 128, 128) * 2 - 1
    valid = torch.ones(2, 1, 128, 128)
    valid[0, :, 5:40, 70:120] = 0
    valid[1, :, 60:100, 0:30] = 0  # the box spans both holes; one touches the border
    z = torch.randn(2, 32)

    def run():
        gen = torch.Generator().manual_seed(4)
        return small.official_forward(img, valid, z, noise_mode=noise_mode, generator=gen)

    boxed = run()
    assert transformer.hole_box(valid) == (5, 100, 0, 120)
    assert synthesis.decoder_boxes(valid, 3, 2) == [None, (0, 53, 0, 63), (5, 100, 0, 120)]
    monkeypatch.setattr(transformer, "hole_box", lambda masks: None)
    assert synthesis.decoder_boxes(valid, 3, 2) == [None, None, None]
    full = run()
    for a, b in zip(boxed, full, strict=True):
        assert float((a - b).abs().max()) <= 1e-5 * max(1.0, float(b.abs().max()))


def test_square_padding_mirrors_the_hole() -> None:
    from triple_dots.mat.model import _pad_square

    hole = torch.zeros(1, 1, 40, 100)
    hole[..., 0:5, 10:20] = 1  # touches the top border
    padded = _pad_square(hole, square_padding(40, 100))
    assert padded.shape == (1, 1, 100, 100)
    assert bool((padded[..., 30:35, 10:20] == 1).all())  # the hole itself (top padding 30)
    assert bool((padded[..., 26:30, 10:20] == 1).all())  # its mirror image in the padding is a hole too
    assert float(padded.sum()) == 90  # 50 + 40 mirrored pixels (rows 1-4), nothing else
    thin = _pad_square(torch.rand(1, 3, 5, 60), square_padding(5, 60))  # too thin to reflect: replicated
    assert thin.shape == (1, 3, 60, 60)
