"""TFill.inpaint / stages behaviour, bad input, noise seeding and the training hooks (tiny widths)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from triple_dots.errors import BadInputError, BadMaskError, SizeMismatchError
from triple_dots.tfill import TFill, TFillConfig, check_inputs, from_model_space, model_size, to_model_space
from triple_dots.tfill.discriminator import StyleDiscriminator

TINY = dict(ngf=4, embed_dim=64, n_encoders=1, fine_size=128, fixed_size=64)


def _noisy_model() -> TFill:
    torch.manual_seed(0)
    model = TFill("tiny", **{k: v for k, v in TINY.items() if k not in ("ngf", "embed_dim", "n_encoders")})
    with torch.no_grad():
        for name, p in model.net_G.named_parameters():
            if ".noise." in name:
                p.fill_(0.5)  # released models have non-zero noise gains; random init has 0
    return model.eval()


@pytest.fixture(scope="module")
def model() -> TFill:
    return _noisy_model()


def _photo(h: int = 72, w: int = 100, b: int = 2, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(b, 3, h, w, generator=g)
    hole = torch.zeros(b, 1, h, w)
    hole[:, :, h // 3: 2 * h // 3, w // 4: w // 2] = 1
    return img, hole


def test_model_size_follows_official_test_path() -> None:
    assert model_size(512, 512) == (512, 512)
    assert model_size(512, 680) == (512, 672)  # 680 -> nearest multiple of 32
    assert model_size(1024, 1536) == (512, 768)
    assert model_size(100, 72, fine_size=128) == (192, 128)  # 177.8 -> 178 -> 6 * 32


def test_known_pixels_exactly_unchanged_any_size(model: TFill) -> None:
    img, hole = _photo(72, 100)
    out = model.inpaint(img, hole, seed=3)
    assert out.shape == img.shape and out.dtype == torch.float32
    keep = (hole == 0).expand_as(img)
    assert torch.equal(out[keep], img[keep])
    assert not torch.equal(out[~keep], img[~keep])  # the hole really was regenerated
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_seed_reproducible_and_noise_only_in_hole(model: TFill) -> None:
    img, hole = _photo()
    a = model.inpaint(img, hole, seed=7)
    b = model.inpaint(img, hole, seed=7)
    assert torch.equal(a, b)
    state = torch.random.get_rng_state()
    c = model.inpaint(img, hole)
    d = model.inpaint(img, hole)
    assert torch.equal(state, torch.random.get_rng_state())  # the global RNG is not used
    keep = (hole == 0).expand_as(img)
    assert torch.equal(c[keep], d[keep]) and torch.equal(c[keep], img[keep])
    assert not torch.equal(c[~keep], d[~keep])


def test_three_dim_input_and_mask_broadcast(model: TFill) -> None:
    img, hole = _photo(64, 64, b=2)
    single = model.inpaint(img[0], hole[0], seed=0)
    assert single.shape == (3, 64, 64)
    batched = model.inpaint(img, hole[:1], seed=0)  # one mask for the whole batch
    assert batched.shape == img.shape
    bool_mask = model.inpaint(img, hole.bool(), seed=0)
    assert torch.equal(bool_mask, model.inpaint(img, hole, seed=0))


def test_no_hole_returns_input_without_running_the_networks(model: TFill, monkeypatch: pytest.MonkeyPatch) -> None:
    img, _ = _photo()
    empty = torch.zeros(2, 1, img.shape[-2], img.shape[-1])

    def boom(*args, **kwargs):
        raise AssertionError("network ran although no pixel is a hole")

    monkeypatch.setattr(model, "forward", boom)
    out = model.inpaint(img, empty)
    assert torch.equal(out, img) and out.data_ptr() != img.data_ptr()


def test_mixed_batch_only_holed_samples_change(model: TFill) -> None:
    img, hole = _photo(b=2)
    hole[1] = 0
    out = model.inpaint(img, hole, seed=1)
    assert torch.equal(out[1], img[1])
    assert not torch.equal(out[0], img[0])


def test_all_hole_mask_is_documented_result(model: TFill) -> None:
    img, _ = _photo(b=1)
    out = model.inpaint(img, torch.ones(1, 1, *img.shape[-2:]), seed=0)
    assert out.shape == img.shape and torch.isfinite(out).all()
    assert float(out.min()) >= 0 and float(out.max()) <= 1


@pytest.mark.parametrize(
    ("images", "masks", "error", "words"),
    [
        (torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 40), SizeMismatchError, "differs from image size"),
        (torch.rand(1, 3, 32, 32), torch.full((1, 1, 32, 32), 0.5), BadMaskError, "binary"),
        (torch.rand(1, 4, 32, 32), torch.zeros(1, 1, 32, 32), BadInputError, "3 colour channels"),
        (torch.rand(1, 1, 32, 32), torch.zeros(1, 1, 32, 32), BadInputError, "3 colour channels"),
        (torch.rand(1, 3, 32, 32), torch.zeros(1, 3, 32, 32), BadMaskError, "single-channel"),
        (torch.full((1, 3, 8, 8), float("nan")), torch.zeros(1, 1, 8, 8), BadInputError, "NaN"),
        (torch.rand(1, 3, 8, 8), torch.full((1, 1, 8, 8), float("nan")), BadMaskError, "NaN"),
        (torch.rand(1, 3, 8, 8) * 2 - 1, torch.zeros(1, 1, 8, 8), BadInputError, "[0, 1]"),
        ((torch.rand(1, 3, 8, 8) * 255).to(torch.uint8), torch.zeros(1, 1, 8, 8), BadInputError, "float"),
        (torch.rand(3, 3, 8, 8), torch.zeros(2, 1, 8, 8), SizeMismatchError, "2 hole masks for 3 images"),
        (torch.rand(8, 8), torch.zeros(8, 8), BadInputError, "(B, 3, H, W)"),
        ([[0.0]], torch.zeros(1, 1, 1, 1), BadInputError, "torch.Tensor"),
    ],
)
def test_bad_input_is_rejected_before_the_network(
    model: TFill, monkeypatch: pytest.MonkeyPatch, images, masks, error, words
) -> None:
    monkeypatch.setattr(model, "forward", lambda *a, **k: pytest.fail("network ran on bad input"))
    with pytest.raises(error, match=None) as info:
        model.inpaint(images, masks)
    assert words in str(info.value)


def test_check_inputs_normalises_shapes() -> None:
    img, hole, was_3d = check_inputs(torch.rand(3, 16, 16), torch.zeros(16, 16, dtype=torch.bool))
    assert img.shape == (1, 3, 16, 16) and hole.shape == (1, 1, 16, 16) and was_3d
    assert hole.dtype == torch.float32


def test_stages_shapes_and_consistency(model: TFill) -> None:
    img, hole = _photo(72, 100, b=1)
    st = model.stages(img, hole, seed=5)
    c = model.config
    assert st.image.shape == (1, 3) + model_size(72, 100, c.fine_size)
    assert st.fixed_image.shape == (1, 3, c.fixed_size, c.fixed_size)
    tok = c.fixed_size // 16
    assert st.tokens.shape == (1, c.embed_dim, tok, tok) and st.token_mask.shape == (1, 1, tok, tok)
    assert st.transformer_out.shape == (1, c.token_dim, tok, tok)
    assert st.coarse_raw.shape == (1, 3, c.fixed_size, c.fixed_size)
    assert st.coarse_composite.shape == st.refine_raw.shape == st.image.shape
    assert torch.equal(st.final, model.inpaint(img, hole, seed=5))
    # the token mask is the visible fraction of each patch of the square coarse input
    assert float(st.token_mask.min()) >= 0 and float(st.token_mask.max()) <= 1
    with pytest.raises(BadMaskError):
        model.stages(img, torch.zeros_like(hole))


def test_conversions_round_trip() -> None:
    img, hole = _photo(b=1)
    pm1, valid = to_model_space(img, hole)
    assert float(pm1.min()) >= -1 and float(pm1.max()) <= 1
    assert torch.equal(valid, 1 - hole)
    assert torch.allclose(from_model_space(pm1), img, atol=1e-6)


def test_training_hooks_give_gradients_to_every_generator_network() -> None:
    torch.manual_seed(0)
    model = TFill("tiny", fine_size=64, fixed_size=32, discriminators=True)
    img, hole = _photo(64, 64, b=2)
    x, valid = to_model_space(img, hole)
    gen = torch.Generator().manual_seed(0)
    coarse = model.coarse_stage(x, valid, generator=gen)
    refine = model.refine_stage(coarse.coarse_composite.detach(), x, valid)
    loss = coarse.coarse_raw.abs().mean() + refine.refine_raw.abs().mean()
    loss = loss + model.net_D(coarse.coarse_raw).mean() + model.net_D_Ref(refine.refine_raw).mean()
    loss.backward()
    for name, net in model.networks():
        grads = [p.grad for p in net.parameters() if p.requires_grad]
        assert any(g is not None and float(g.abs().sum()) > 0 for g in grads), name
    # the gradient path computes the same numbers as the no-grad fast path
    with torch.no_grad():
        fast = model(x, valid, generator=torch.Generator().manual_seed(0))
    slow = model(x, valid, generator=torch.Generator().manual_seed(0))
    for key in ("coarse_raw", "refine_raw"):
        assert torch.allclose(getattr(fast, key), getattr(slow, key).detach(), atol=1e-5), key


@pytest.mark.parametrize("batch", [1, 2, 3, 5])
def test_discriminator_shapes_and_blur_buffers(batch: int) -> None:
    d = StyleDiscriminator(32, ndf=32)
    assert d(torch.randn(batch, 3, 32, 32)).shape == (batch, 1)
    kernels = [k for k in d.state_dict() if k.endswith(".kernel")]
    assert len(kernels) == 2 * 3 and all(d.state_dict()[k].shape == (4, 4) for k in kernels)
    assert torch.isclose(d.state_dict()[kernels[0]].sum(), torch.tensor(1.0))


def test_autocast_and_channels_last_keep_results(model: TFill) -> None:
    img, hole = _photo(64, 64, b=1)
    ref = model.inpaint(img, hole, seed=2)
    import copy

    cl = copy.deepcopy(model).use_channels_last()
    assert torch.allclose(cl.inpaint(img, hole, seed=2), ref, atol=1e-4)
    half = model.inpaint(img, hole, seed=2, autocast_dtype=torch.bfloat16)
    assert torch.isfinite(half).all()
    keep = (hole == 0).expand_as(img)
    assert torch.equal(half[keep], img[keep])


def test_config_validation() -> None:
    with pytest.raises(BadInputError, match="n_decoders"):
        TFillConfig(n_decoders=2)
    with pytest.raises(BadInputError, match="unknown TFill option"):
        TFill("tiny", not_an_option=1)
    with pytest.raises(BadInputError, match="unknown TFill preset"):
        TFill("celebahq")
    with pytest.raises(BadInputError, match=r"embed_dim=32 must equal ngf x 2\*\*n_layers_G = 4 x 16 = 64"):
        TFill(ngf=4, embed_dim=32)  # was a raw conv shape error deep in the first forward pass
    assert TFill(ngf=2, embed_dim=32, n_encoders=1).config.embed_dim == 32


def test_discriminators_loaded_channels_last_score_like_the_plain_layout(tmp_path: Path) -> None:
    """``from_official`` stores weights channels-last by default; D's flatten must not depend on the layout."""
    torch.manual_seed(0)
    TFill("tiny", discriminators=True).save(tmp_path / "ckpt")
    fast = TFill.from_official(tmp_path / "ckpt", discriminators=True)
    plain = TFill.from_official(tmp_path / "ckpt", discriminators=True, channels_last=False)
    x = torch.rand(2, 3, fast.config.fixed_size, fast.config.fixed_size) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(fast.net_D(x), plain.net_D(x), atol=1e-4)


def _attn_aware_reference(layer, x: torch.Tensor, pre: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The official attention-aware formula written out directly: whole (N, N) maps, ``torch.where``."""
    b, c, h, w = x.shape
    heads, d = layer.num_heads, c // layer.num_heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(b, heads, d, h * w).transpose(-1, -2)

    q, k, v, pv = split(layer.query_conv(x)), split(layer.key_conv(x)), split(x), split(pre)
    s = torch.matmul(q, k.transpose(-1, -2)) * d**-0.5
    m = mask.reshape(b, 1, 1, h * w)
    vis = torch.where(s > 0, s * m, s / (m + 1e-8))
    hole = torch.where(s > 0, s * (1 - m), s / (1 - m + 1e-8))
    sd = s.detach()  # the official gates use detached logits
    g = torch.cat([(sd * m).amax(-1), (sd * (1 - m)).amax(-1)], 1).view(b, 2 * heads, h, w)
    g = torch.softmax(layer.weight(g), dim=1)
    ctx = torch.matmul(vis.softmax(-1), pv).transpose(-1, -2).reshape(b, c, h, w)
    slf = torch.matmul(hole.softmax(-1), v).transpose(-1, -2).reshape(b, c, h, w)
    return layer.to_out(torch.cat([g[:, :1] * ctx + g[:, 1:] * slf, x], 1))[0]


@pytest.mark.parametrize("chunk_elems", [1 << 20, 3 * 2 * 36])  # one chunk; 3 query rows (uneven last chunk)
def test_attention_aware_layer_matches_the_direct_formula(chunk_elems: int) -> None:
    from triple_dots.tfill.refine import AttnAware

    torch.manual_seed(0)
    layer = AttnAware(8, chunk_elems=chunk_elems).eval()
    x, pre = torch.randn(2, 8, 5, 7), torch.randn(2, 8, 5, 7)
    hard = (torch.rand(2, 1, 3, 4) > 0.5).float()  # binary at low res, soft edges after resizing
    mask = torch.nn.functional.interpolate(hard, size=(5, 7), mode="bilinear", align_corners=True)
    with torch.no_grad():
        want = _attn_aware_reference(layer, x, pre, mask)
    with torch.inference_mode():
        fast = layer(x, pre, mask)  # reused chunk buffers
    slow = layer(x, pre, mask)  # autograd path
    assert slow.requires_grad
    torch.testing.assert_close(fast, want, rtol=0, atol=2e-6)
    torch.testing.assert_close(slow.detach(), want, rtol=0, atol=2e-6)
    params = [p for p in layer.parameters() if p.requires_grad]
    grads = torch.autograd.grad(slow.square().sum(), params)
    want_grads = torch.autograd.grad(_attn_aware_reference(layer, x, pre, mask).square().sum(), params)
    for got, exp in zip(grads, want_grads, strict=True):
        torch.testing.assert_close(got, exp, rtol=1e-4, atol=1e-5)
