"""stylegan2-pytorch: random weights under the port's g_ema names (narrow widths), saved as its
scripts save them, converted, and equal to the port's network computed step by step with
torch.nn.functional (tests/stylegan2_port_reference.py); then exported to ONNX and served with
truncation, as the bundled style model is."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from stylegan2_port_reference import port_state, reference_images, reference_mapping

from models.checkpoints import convert
from models.checkpoints.base import Checkpoint, CheckpointRejected
from models.checkpoints.loading import load_checkpoint
from models.inference.latents import sample_latents
from models.inference.sessions import open_session
from models.inference.style import StyleRequest, style_images
from models.style_export import export_style_generator


def saved(tmp_path, content, name="checkpoint.pt"):
    path = tmp_path / name
    torch.save(content, path)
    return load_checkpoint(path)


@pytest.fixture(scope="module")
def port():
    state = port_state()
    latent_avg = torch.randn(16, generator=torch.Generator().manual_seed(7))
    return state, latent_avg


@pytest.fixture(scope="module")
def converted(port, tmp_path_factory):
    state, latent_avg = port
    checkpoint = saved(tmp_path_factory.mktemp("port"), {"g_ema": state, "latent_avg": latent_avg, "g": state,
                                                         "d": {"convs.0.0.weight": torch.zeros(1)}})
    return convert("stylegan2-pytorch", [checkpoint], {})


def test_shapes_decide_every_size_and_the_generator_equals_the_port(port, converted):
    state, latent_avg = port
    assert converted.task == "generate" and converted.style and converted.signature is None
    assert converted.architecture == "stylegan2_port_generator"
    assert converted.config == {"size": 16, "style_dim": 16, "n_mlp": 2, "widths": [8, 8, 6], "channels": 3,
                                "start": 4, "lr_mlp": 0.01}
    generator = converted.networks["generator"]
    assert torch.equal(generator.w_avg, latent_avg)
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    noise = [torch.randn(3, 1, r, r, generator=torch.Generator().manual_seed(r)) for r in (4, 8, 8, 16, 16)]
    with torch.no_grad():
        for given in (None, noise):  # the stored maps, then maps given per image
            ours = generator(z, noise=given)
            expected = reference_images(state, z, noise=given)
            assert ours.shape == (3, 3, 16, 16)
            assert (ours - expected).abs().max() <= 1e-4
        # noise matters, so the comparison above covers it
        assert (generator(z) - generator(z, noise=noise)).abs().max() > 1e-2


def test_truncation_pulls_towards_latent_avg(port, converted):
    state, latent_avg = port
    generator = converted.networks["generator"]
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        half = generator(z, psi=0.5)
        assert (half - reference_images(state, z, psi=0.5, w_avg=latent_avg)).abs().max() <= 1e-4
        centre = generator(z, psi=0.0)
        assert (centre[0] - centre[1]).abs().max() < 1e-5  # every z becomes latent_avg
        assert (half - generator(z)).abs().max() > 1e-3


def test_without_latent_avg_w_avg_is_the_seeded_mean_of_mapped_samples(port, tmp_path):
    state, _ = port
    checkpoint = saved(tmp_path, {"g_ema": state})
    first = convert("stylegan2-pytorch", [checkpoint], {}).networks["generator"].w_avg
    again = convert("stylegan2-pytorch", [checkpoint], {}).networks["generator"].w_avg
    assert torch.equal(first, again)  # seeded: one file, one w_avg
    z = torch.randn(10_000, 16, generator=torch.Generator().manual_seed(0))
    assert (first - reference_mapping(state, z).mean(dim=0)).abs().max() <= 1e-5


def test_a_bare_g_ema_state_dict_in_safetensors_converts_too(port, tmp_path):
    state, latent_avg = port
    path = tmp_path / "g_ema.safetensors"
    save_file({**state, "latent_avg": latent_avg}, str(path))
    conversion = convert("stylegan2-pytorch", [load_checkpoint(path)], {})
    assert torch.equal(conversion.networks["generator"].w_avg, latent_avg)


def test_a_256_px_port_exports_and_serves_seeds_and_truncation_equal_to_the_port(tmp_path):
    """One export (the slow part): 256 px as the port's real models, at narrow widths."""
    state = port_state(size=256, style_dim=8, n_mlp=1, widths=(8, 8, 8, 8, 4, 4, 4))
    latent_avg = torch.randn(8, generator=torch.Generator().manual_seed(7))
    conversion = convert("stylegan2-pytorch", [saved(tmp_path, {"g_ema": state, "latent_avg": latent_avg})], {})
    assert conversion.config["size"] == 256 and conversion.config["widths"] == [8, 8, 8, 8, 4, 4, 4]
    signature, synthesis, mapping, worst = export_style_generator(conversion.networks["generator"], tmp_path)
    assert worst <= 1e-4
    style = signature.style
    assert (signature.image_size, signature.channels, signature.latent_dim, signature.inputs) == (256, 3, 8, ["z"])
    assert style.num_ws == 14 and style.layer_resolutions == [4, 8, 8, 16, 16, 32, 32, 64, 64, 128, 128, 256, 256, 256]
    assert style.noise_shapes[-1] == [1, 256, 256]
    assert np.allclose(style.w_avg, latent_avg.numpy(), atol=1e-6)
    sessions = [open_session(p) for p in (mapping, synthesis)]

    def served(**request):
        return style_images(lambda feeds: sessions[0].run(None, feeds)[0],
                            lambda feeds: sessions[1].run(None, feeds)[0], signature, StyleRequest(n=2, **request))

    z = torch.from_numpy(sample_latents(5, 2, 8))  # the latents /generate draws for seed 5
    for psi in (1.0, 0.6):
        expected = reference_images(state, z, psi=psi, w_avg=latent_avg).numpy()
        assert np.abs(served(seed=5, psi=psi) - expected).max() <= 1e-4
    assert np.abs(served(seed=5, psi=0.6) - served(seed=5)).max() > 1e-3


def test_the_port_table_widths_are_named_in_the_notes():
    from models.checkpoints.stylegan2_pytorch import channel_multiplier
    assert channel_multiplier({"size": 256, "start": 4, "widths": [512] * 4 + [256, 128, 64]}) == 1
    assert channel_multiplier({"size": 256, "start": 4, "widths": [512] * 5 + [256, 128]}) == 2
    assert channel_multiplier({"size": 16, "start": 4, "widths": [512] * 3}) is None


@pytest.mark.parametrize("change, named", [
    (lambda s: s.pop("convs.1.noise.weight"), "missing tensors: convs.1.noise.weight"),
    (lambda s: s.update({"to_rgbs.0.bias": torch.zeros(3)}), "to_rgbs.0.bias (3,) (expected (1, 3, 1, 1))"),
    (lambda s: s.update({"convs.9.conv.weight": torch.zeros(1)}), "unexpected tensors: convs.9.conv.weight"),
    (lambda s: s.update({"noises.noise_1": torch.zeros(1, 1, 4, 4)}), "noises.noise_1 (1, 1, 4, 4)"),
    (lambda s: s.pop("input.input"), "missing tensors: input.input"),
])
def test_a_damaged_g_ema_is_refused_naming_the_keys(port, change, named):
    state = dict(port[0])
    change(state)
    with pytest.raises(CheckpointRejected, match="stylegan2-pytorch generator") as refused:
        convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g_ema": state})], {})
    assert named in str(refused.value)


def test_refusals_of_the_file_and_options(port):
    state, _ = port
    with pytest.raises(CheckpointRejected, match="no 'g_ema' state dict.*entries: g, d"):
        convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g": {"a": torch.zeros(1)}, "d": {}})], {})
    with pytest.raises(CheckpointRejected, match=r"latent_avg \(5,\) is not a w of style_dim 16"):
        convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g_ema": state, "latent_avg": torch.zeros(5)})], {})
    with pytest.raises(CheckpointRejected, match="option generator='d'"):
        convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g_ema": state})], {"generator": "d"})
    with pytest.raises(CheckpointRejected, match="option lr_mlp='fast' is not a number"):
        convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g_ema": state})], {"lr_mlp": "fast"})
    with pytest.raises(CheckpointRejected, match="takes one file"):
        convert("stylegan2-pytorch", [Checkpoint("a.pt", {"g_ema": state})] * 2, {})


def test_the_non_ema_generator_can_be_chosen(port):
    state, _ = port
    other = port_state(seed=3)
    conversion = convert("stylegan2-pytorch", [Checkpoint("ckpt.pt", {"g_ema": state, "g": other})],
                         {"generator": "g"})
    z = torch.randn(1, 16, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ours = conversion.networks["generator"](z)
    assert (ours - reference_images(other, z)).abs().max() <= 1e-4
