"""InfoGAN (Chen et al. 2016): codes beside the noise that the generator learns to make readable,
so each comes to control one factor of the images (on digits: the class, slant, width)."""

from typing import Literal

from pydantic import Field

from training.families.shared import TrainerOptions
from training.families.spec import Family


class InfoGANHyperparameters(TrainerOptions):
    """The paper's MNIST setting by default: one 10-way categorical code and two continuous codes
    in [-1, 1], 62 noise dimensions, Adam at 2e-4 for D and 1e-3 for G with beta1 0.5, the mutual
    information term weighted 1 for categories and 0.1 for continuous codes."""

    latent_dim: int = Field(62, ge=1, le=1024, description="Length of the incompressible noise z.")
    categorical_codes: list[int] = Field([10], max_length=4, description="Number of values of each categorical code.")
    continuous_codes: int = Field(2, ge=0, le=8, description="How many continuous codes, each uniform in [-1, 1].")
    base_features: int = Field(64, ge=1, le=512, description="Width of the widest-resolution layers.")
    arch: Literal["conv", "paper-fc"] = Field(
        "conv", description="conv: DCGAN trunks, both heads read off the last map; paper-fc: the paper's MNIST "
        "networks, with fully connected layers of fc_features in G and shared by D and Q.")
    fc_features: int = Field(1024, ge=1, le=4096, description="Width of the fully connected layers of arch paper-fc.")
    batch_size: int = Field(64, ge=1, le=1024, description="Images per step.")
    lr_g: float = Field(1e-3, gt=0, le=1, description="Generator (and Q head) learning rate.")
    lr_d: float = Field(2e-4, gt=0, le=1, description="Discriminator learning rate.")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2.")
    lambda_categorical: float = Field(1.0, ge=0, le=100, description="Weight of the categorical codes' information term.")
    lambda_continuous: float = Field(0.1, ge=0, le=100, description="Weight of the continuous codes' information term.")
    info_trains_body: bool = Field(
        True, description="The information term also trains the discriminator's shared body, Q at lr_d; false: "
        "Q trains with the generator at lr_g and the body on real/fake only.")
    ema_decay: float = Field(0.0, ge=0, lt=1, description="Decay of the generator's moving average; 0 disables it.")

    def code_specs(self) -> list[dict]:
        """The codes by name, as the manifest lists them and /generate sets them."""
        one = len(self.categorical_codes) == 1
        specs = [{"name": "category" if one else f"category_{i}", "kind": "categorical", "size": size}
                 for i, size in enumerate(self.categorical_codes)]
        specs += [{"name": f"continuous_{i}", "kind": "continuous", "range": [-2.0, 2.0]}
                  for i in range(self.continuous_codes)]
        return specs


FAMILY = Family(
    name="infogan",
    summary="InfoGAN (Chen et al. 2016): categorical and continuous codes beside z, a Q head sharing the "
    "discriminator's body, the mutual-information loss; /generate sets the codes by name.",
    task="generate",
    layouts=("images", "classes"),
    hyperparameters=InfoGANHyperparameters,
    recipe="infogan",
)
