"""The loss families and their options on tiny shapes: losses, gradient penalty, spectral norm,
DiffAugment, critic steps and resume, and the configs that POST /train validates against."""

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file
from test_trainer import abort_after, assert_same_weights, tiny_dataset
from torch import nn

from models.architectures import build
from training.families import FAMILIES
from training.families.dcgan import DCGANHyperparameters
from training.families.shared import DIFFAUGMENT_OPS
from training.trainers.checkpoints import latest_checkpoint
from training.trainers.dcgan import DCGANConfig, network_specs, train_dcgan
from training.trainers.diffaugment import OPS, diff_augment
from training.trainers.losses import (
    discriminator_loss,
    generator_loss,
    gradient_penalty,
)

TINY = {"latent_dim": 4, "base_features": 4, "embed_dim": 2, "batch_size": 8}
# The families that training/trainers/dcgan.py runs (others in FAMILIES have their own recipes).
LOSS_FAMILIES = ["dcgan", "lsgan", "wgan-gp", "cdcgan"]


def family_config(name: str, **overrides) -> DCGANConfig:
    """A run config the way the training worker builds one: the family's validated defaults."""
    family = FAMILIES[name]
    hyperparameters = family.hyperparameters.model_validate({**TINY, **overrides}).model_dump()
    return DCGANConfig(**hyperparameters, conditional=family.conditional, steps=3, seed=1)


def discriminator_of(config: DCGANConfig, data) -> nn.Module:
    _, _, d_name, d_config = network_specs(config, data)
    return build(d_name, **d_config)


# -- every family trains --------------------------------------------------------------------------


@pytest.mark.parametrize("name", LOSS_FAMILIES)
@pytest.mark.parametrize("options", [{}, {"spectral_norm": True, "diffaugment": "color,translation,cutout"}])
def test_each_family_trains_a_few_steps_with_finite_losses(name, options):
    seen = []
    result = train_dcgan(family_config(name, **options), tiny_dataset(), progress_fn=lambda *args: seen.append(args))
    assert result.step == 3 and [s[0] for s in seen] == [1, 2, 3]
    losses = seen[-1][2]
    assert {"d", "g"} <= losses.keys() and all(np.isfinite(v) for v in losses.values()), losses
    if name == "wgan-gp":
        assert {"wasserstein", "gp"} <= losses.keys()


def test_the_families_and_their_defaults():
    assert set(LOSS_FAMILIES) <= set(FAMILIES)
    defaults = {name: FAMILIES[name].hyperparameters() for name in LOSS_FAMILIES}
    assert defaults["dcgan"].loss == "non_saturating" and defaults["lsgan"].loss == "lsgan"
    assert defaults["cdcgan"].loss == "hinge" and FAMILIES["cdcgan"].conditional
    wgan = defaults["wgan-gp"]
    assert (wgan.loss, wgan.critic_steps, wgan.gp_lambda, wgan.d_norm) == ("wgan_gp", 5, 10.0, "layer")
    assert (wgan.lr_g, wgan.lr_d, wgan.beta1, wgan.beta2) == (1e-4, 1e-4, 0.0, 0.9)
    assert not any(FAMILIES[name].conditional for name in ("dcgan", "lsgan", "wgan-gp"))
    assert all(FAMILIES[name].recipe == "dcgan" and FAMILIES[name].task == "generate" for name in LOSS_FAMILIES)


def test_every_family_names_a_recipe_that_exists_and_the_table_is_keyed_by_name():
    from training.recipes.table import RECIPES

    assert {family.recipe for family in FAMILIES.values()} <= set(RECIPES)
    assert all(key == family.name for key, family in FAMILIES.items())
    assert list(FAMILIES) == ["dcgan", "lsgan", "wgan-gp", "cdcgan", "sagan", "stylegan2", "infogan", "srgan", "esrgan",
                             "pix2pix", "cyclegan"]


def test_the_family_specs_load_without_torch():
    import subprocess
    import sys

    probe = "import sys, training.families; print('torch' in sys.modules, 'onnxruntime' in sys.modules)"
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert answer.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("d_norm", ["layer", "none"])
def test_the_wgan_gp_critic_has_no_batch_norm(d_norm):
    data = tiny_dataset(size=16)  # two doublings, so the critic has a normalised layer
    critic = discriminator_of(family_config("wgan-gp", d_norm=d_norm), data)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in critic.modules()) == (d_norm == "layer")
    dcgan = discriminator_of(family_config("dcgan"), data)
    assert any(isinstance(m, nn.BatchNorm2d) for m in dcgan.modules())


def test_each_generator_update_follows_critic_steps_critic_updates(tmp_path):
    train_dcgan(family_config("wgan-gp").model_copy(update={"checkpoint_every": 3}), tiny_dataset(), checkpoint_dir=tmp_path)
    tensors = load_file(latest_checkpoint(tmp_path).with_suffix(".safetensors"))
    assert tensors["opt_g.0.step"].item() == 3 and tensors["opt_d.0.step"].item() == 3 * 5  # Adam's step counters


# -- losses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["non_saturating", "lsgan", "hinge", "wgan_gp"])
def test_a_discriminator_that_is_right_beats_one_that_is_wrong(kind):
    right = discriminator_loss(kind, torch.full((4,), 3.0), torch.full((4,), -3.0))
    wrong = discriminator_loss(kind, torch.full((4,), -3.0), torch.full((4,), 3.0))
    assert right < wrong
    # ...and the generator wants its fakes scored as real.
    assert generator_loss(kind, torch.full((4,), 3.0)) < generator_loss(kind, torch.full((4,), -3.0))


def test_least_squares_and_hinge_are_zero_at_their_targets():
    assert discriminator_loss("lsgan", torch.ones(4), torch.zeros(4)) == 0
    assert discriminator_loss("lsgan", torch.full((4,), 0.9), torch.zeros(4), real_target=0.9) == 0
    assert generator_loss("lsgan", torch.ones(4)) == 0
    assert discriminator_loss("hinge", torch.full((4,), 1.5), torch.full((4,), -1.0)) == 0


class LinearCritic(nn.Module):
    """x -> w . x, whose input gradient is w everywhere: its norm is the critic's Lipschitz constant."""

    def __init__(self, features: int, norm: float):
        super().__init__()
        w = torch.randn(features, generator=torch.Generator().manual_seed(0))
        self.w = nn.Parameter(norm * w / w.norm())
        self.labels_seen: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
        self.labels_seen += labels
        return images.flatten(1) @ self.w


def test_the_gradient_penalty_is_zero_for_a_1_lipschitz_critic_and_grows_with_steepness():
    real, fake = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4)
    flat = gradient_penalty(LinearCritic(16, 1.0), real, fake, weight=10.0, generator=torch.Generator().manual_seed(1))
    assert flat.item() == pytest.approx(0.0, abs=1e-6)
    steep = gradient_penalty(LinearCritic(16, 3.0), real, fake, weight=10.0, generator=torch.Generator().manual_seed(1))
    assert steep.item() == pytest.approx(10.0 * (3.0 - 1.0) ** 2, rel=1e-5)


def test_the_gradient_penalty_trains_the_critic_and_asks_it_with_the_given_labels():
    critic, labels = LinearCritic(16, 3.0), torch.arange(6)
    penalty = gradient_penalty(critic, torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4), labels, weight=10.0)
    penalty.backward()
    assert critic.w.grad is not None and critic.w.grad.norm() > 0  # through the input gradient
    assert torch.equal(critic.labels_seen[0], labels)


def test_a_conditional_wgan_gp_critic_trains():
    config = family_config("cdcgan", loss="wgan_gp", gp_lambda=10.0, d_norm="none", critic_steps=2)
    seen = []
    train_dcgan(config, tiny_dataset(), progress_fn=lambda *args: seen.append(args[2]))
    assert np.isfinite(seen[-1]["gp"]) and np.isfinite(seen[-1]["wasserstein"])


# -- spectral norm --------------------------------------------------------------------------------


def largest_singular_values(module: nn.Module) -> list[float]:
    layers = [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]
    return [torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item() for m in layers]


@pytest.mark.parametrize("conditional", [False, True])
def test_spectral_norm_keeps_every_discriminator_weight_at_unit_scale(conditional):
    name = "cdcgan" if conditional else "dcgan"
    data = tiny_dataset(size=16)
    critic = discriminator_of(family_config(name, spectral_norm=True), data)
    images, labels = torch.from_numpy(data.images), torch.from_numpy(data.labels)
    for _ in range(5):  # power iterations happen in train-mode forwards
        critic(images, labels) if conditional else critic(images)
    sigmas = largest_singular_values(critic)
    assert len(sigmas) >= 3 and sigmas == pytest.approx([1.0] * len(sigmas), abs=0.05)
    plain = discriminator_of(family_config(name), data)
    assert not largest_singular_values(plain) == pytest.approx([1.0] * len(sigmas), abs=0.05)


# -- DiffAugment ----------------------------------------------------------------------------------


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("op", DIFFAUGMENT_OPS)  # every op a policy may name
def test_each_op_keeps_the_shape_and_passes_gradients(op):
    images = torch.rand(5, 3, 8, 8, requires_grad=True)
    out = OPS[op](images, seeded(0))
    assert out.shape == images.shape
    out.square().sum().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


@pytest.mark.parametrize("op", ["translation", "cutout", "color"])
def test_the_same_seed_augments_alike_and_another_seed_differently(op):
    images = torch.rand(16, 1, 8, 8)
    assert torch.equal(OPS[op](images, seeded(3)), OPS[op](images, seeded(3)))
    assert not torch.equal(OPS[op](images, seeded(3)), OPS[op](images, seeded(4)))


def test_translation_shifts_whole_images_and_fills_with_zeros():
    images = torch.rand(16, 1, 8, 8) + 1.0  # no zeros of their own
    for image, moved in zip(images, OPS["translation"](images, seeded(5))):
        shifts = [
            (dy, dx) for dy in range(-1, 2) for dx in range(-1, 2)
            if torch.equal(moved, shifted(image, dy, dx))
        ]
        assert len(shifts) == 1


def shifted(image: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    out = torch.zeros_like(image)
    h, w = image.shape[1:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = image[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_cutout_zeroes_one_rectangle_of_at_most_half_the_side():
    images = torch.rand(16, 1, 8, 8) + 1.0
    out = OPS["cutout"](images, seeded(6))
    for image, cut in zip(images, out):
        holes = (cut[0] == 0).nonzero()
        kept = cut[0] != 0
        assert torch.equal(cut[0][kept], image[0][kept])
        if len(holes):
            rows, cols = holes[:, 0], holes[:, 1]
            height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
            assert height <= 4 and width <= 4 and len(holes) == height * width


def test_an_empty_policy_is_the_identity_and_ops_apply_in_order():
    images = torch.rand(4, 3, 8, 8)
    assert diff_augment(images, "", seeded(0)) is images
    both = diff_augment(images, "translation,cutout", seeded(0))
    generator = seeded(0)
    assert torch.equal(both, OPS["cutout"](OPS["translation"](images, generator), generator))


# -- resume ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"spectral_norm": True, "diffaugment": "color,translation,cutout"}])
def test_a_resumed_wgan_gp_run_matches_an_uninterrupted_one(tmp_path, options):
    data = tiny_dataset()
    config = family_config("wgan-gp", **options).model_copy(update={"steps": 5, "checkpoint_every": 2})
    straight = train_dcgan(config, data)
    stopped = train_dcgan(config, data, checkpoint_dir=tmp_path, abort_fn=abort_after(3))
    assert stopped.aborted and stopped.step == 3
    resumed = train_dcgan(config, data, checkpoint_dir=tmp_path)
    assert resumed.step == 5
    assert_same_weights(straight.generator, resumed.generator)


# -- configs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "hyperparameters", "field"),
    [
        ("dcgan", {"learning_rate": 1e-3}, "learning_rate"),
        ("wgan-gp", {"critic": "big"}, "critic"),
        ("wgan-gp", {"loss": "non_saturating"}, "loss"),
        ("wgan-gp", {"d_norm": "batch"}, "d_norm"),
        ("wgan-gp", {"gp_lambda": 0}, "gp_lambda"),
        ("wgan-gp", {"label_smoothing": 0.1}, "label_smoothing"),
        ("lsgan", {"loss": "hinge"}, "loss"),
        ("cdcgan", {"loss": "softplus"}, "loss"),
        ("dcgan", {"diffaugment": "color,zoom"}, "diffaugment"),
        ("dcgan", {"diffaugment": "cutout,cutout"}, "diffaugment"),
        ("dcgan", {"critic_steps": 0}, "critic_steps"),
        ("dcgan", {"loss": "wgan_gp"}, None),  # no penalty: not WGAN-GP
        ("dcgan", {"gp_lambda": 10.0}, None),  # a penalty through batch norm
        ("cdcgan", {"label_smoothing": 0.1}, None),  # smoothing the hinge's margin means nothing
    ],
)
def test_configs_refuse_unknown_keys_and_conflicting_settings(name, hyperparameters, field):
    with pytest.raises(ValidationError) as refused:
        FAMILIES[name].hyperparameters.model_validate(hyperparameters)
    locations = [error["loc"] for error in refused.value.errors()]
    assert locations == [(field,)] if field else locations == [()]


def test_settings_that_make_sense_together_are_accepted():
    custom = DCGANHyperparameters(loss="wgan_gp", gp_lambda=10.0, d_norm="none", critic_steps=5)
    assert custom.critic_steps == 5
    assert FAMILIES["lsgan"].hyperparameters(label_smoothing=0.1, spectral_norm=True).label_smoothing == 0.1
    assert DCGANHyperparameters(diffaugment=" color , cutout").diffaugment == "color,cutout"
    assert FAMILIES["cdcgan"].hyperparameters(loss="non_saturating", label_smoothing=0.1).loss == "non_saturating"
