"""StyleGAN2: the exported mapping and synthesis graphs, and what /generate does between them
(truncation psi, style mixing, noise modes, walks), on a small random-weight generator."""

import numpy as np
import pytest
import torch

from models.inference.sessions import open_session
from models.inference.style import (
    StyleRequest,
    lerp_frames,
    slerp_frames,
    style_images,
    style_walk,
)
from models.style_export import export_style_generator
from models.stylegan2 import MinibatchStd, StyleGAN2Discriminator, StyleGAN2Generator


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    generator = StyleGAN2Generator(latent_dim=16, w_dim=16, mapping_layers=2, image_size=8, channels=3,
                                   num_classes=3, base_channels=8, max_channels=16)
    with torch.no_grad():  # a w_avg away from zero, as after training
        generator.w_avg.copy_(torch.randn(16))
        for layer in generator.synthesis.layers:
            layer.noise_strength.fill_(0.5)  # noise that shows
    folder = tmp_path_factory.mktemp("style")
    signature, synthesis, mapping, worst = export_style_generator(generator, folder)
    sessions = [open_session(p) for p in (mapping, synthesis)]

    def map_fn(feeds):
        return sessions[0].run(None, feeds)[0]

    def synth_fn(feeds):
        return sessions[1].run(None, feeds)[0]

    return generator, signature, map_fn, synth_fn, worst


def images(exported, **options):
    _, signature, map_fn, synth_fn, _ = exported
    request = StyleRequest(**{"n": 1, "labels": np.zeros(options.get("n", 1), np.int64), **options})
    return style_images(map_fn, synth_fn, signature, request)


def test_both_graphs_match_pytorch_and_the_manifest_describes_them(exported):
    generator, signature, _, _, worst = exported
    assert worst < 1e-4
    style = signature.style
    assert style.num_ws == generator.num_ws == len(style.layer_resolutions)
    assert style.layer_resolutions[0] == 4 and style.layer_resolutions[-1] == 8
    assert np.allclose(style.w_avg, generator.w_avg.numpy(), atol=1e-6)
    assert signature.inputs == ["z", "labels"]


def test_onnx_images_equal_the_pytorch_generator(exported):
    generator, *_ = exported
    ours = images(exported, seed=3, psi=0.7)
    from models.inference.latents import sample_latents
    with torch.no_grad():
        z = torch.from_numpy(sample_latents(3, 1, 16))
        expected = generator.eval()(z, torch.zeros(1, dtype=torch.int64), psi=0.7).numpy()
    assert np.abs(ours - expected).max() < 1e-4


def test_psi_zero_gives_one_image_for_every_seed_and_psi_one_is_no_truncation(exported):
    a, b = images(exported, seed=1, psi=0.0), images(exported, seed=2, psi=0.0)
    assert np.abs(a - b).max() < 1e-5
    assert np.abs(images(exported, seed=1, psi=1.0) - images(exported, seed=2, psi=1.0)).max() > 1e-2
    # psi = 1 is the untruncated image; psi = 0.5 is something else
    untruncated = images(exported, seed=1)
    assert np.array_equal(images(exported, seed=1, psi=1.0), untruncated)
    assert np.abs(images(exported, seed=1, psi=0.5) - untruncated).max() > 1e-3


def test_style_mixing_from_the_first_layer_is_the_second_seed_and_late_mixing_stays_near_the_first(exported):
    _, signature, *_ = exported
    first, second = images(exported, seed=1), images(exported, seed=2)
    assert np.abs(images(exported, seed=1, mix_seed=2, crossover=0) - second).max() < 1e-5
    last = signature.style.num_ws - 1
    late = images(exported, seed=1, mix_seed=2, crossover=last)
    assert np.abs(late - first).mean() < np.abs(second - first).mean()


def test_random_noise_differs_from_the_stored_noise_and_is_fixed_by_the_seed(exported):
    const = images(exported, seed=1)
    noisy = images(exported, seed=1, noise_mode="random")
    assert np.abs(noisy - const).max() > 1e-3
    assert np.array_equal(noisy, images(exported, seed=1, noise_mode="random"))


@pytest.mark.parametrize("space", ["w", "z"])
def test_a_walk_starts_and_ends_at_the_two_seeds_images(exported, space):
    _, signature, map_fn, synth_fn, _ = exported
    frames = style_walk(map_fn, synth_fn, signature, 1, 2, 6, space=space, labels=np.zeros(1, np.int64),
                        psi=1.0, noise_mode="const")
    assert frames.shape[0] == 6
    assert np.abs(frames[0] - images(exported, seed=1)[0]).max() < 1e-4
    assert np.abs(frames[-1] - images(exported, seed=2)[0]).max() < 1e-4
    steps = [np.abs(frames[i + 1] - frames[i]).mean() for i in range(5)]
    assert max(steps) < np.abs(frames[-1] - frames[0]).mean()  # it moves in steps, not one jump


def test_interpolation_helpers_keep_their_ends():
    a, b = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    for frames in (lerp_frames(a, b, 5), slerp_frames(a, b, 5)):
        assert frames.shape == (5, 8)
        assert np.array_equal(frames[0], a) and np.allclose(frames[-1], b)
    norms = np.linalg.norm(slerp_frames(a, a * 2, 3), axis=1)
    assert np.all(np.isfinite(norms))


def test_discriminator_scores_each_image_and_sees_batch_variety():
    torch.manual_seed(0)
    discriminator = StyleGAN2Discriminator(image_size=8, channels=3, num_classes=3, base_channels=8, max_channels=16)
    scores = discriminator(torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2]))
    assert scores.shape == (6,)
    same = MinibatchStd()(torch.ones(4, 2, 4, 4))
    varied = MinibatchStd()(torch.randn(4, 2, 4, 4))
    assert same[:, -1].abs().max() < 1e-3 < varied[:, -1].abs().min()
