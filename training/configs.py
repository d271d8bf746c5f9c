"""Trainer settings as pydantic models, free of torch so the API can validate a training request."""

from pydantic import BaseModel, ConfigDict, Field


class DCGANHyperparameters(BaseModel):
    """The knobs of a DCGAN run that a training request may set under `hyperparameters`."""

    model_config = ConfigDict(extra="forbid")

    latent_dim: int = Field(64, ge=1, le=1024, description="Length of the latent vector z.")
    base_features: int = Field(64, ge=1, le=512, description="Width of the widest-resolution layers.")
    embed_dim: int = Field(16, ge=1, le=1024, description="Size of the generator's label embedding (conditional only).")
    batch_size: int = Field(64, ge=1, le=1024, description="Images per step.")
    lr_g: float = Field(2e-4, gt=0, le=1, description="Generator learning rate.")
    lr_d: float = Field(2e-4, gt=0, le=1, description="Discriminator learning rate.")
    beta1: float = Field(0.5, ge=0, lt=1, description="Adam beta1.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam beta2.")
    label_smoothing: float = Field(0.0, ge=0, lt=0.5, description="Real targets are 1 - this (one-sided).")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="Decay of the generator's moving average; 0 disables it.")


class DCGANConfig(DCGANHyperparameters):
    """Everything that decides a DCGAN run, apart from the data."""

    conditional: bool = Field(True, description="Condition generator and discriminator on the class label.")
    steps: int = Field(3000, ge=0, description="Optimizer steps, each one D update then one G update.")
    seed: int = Field(0, ge=0, description="Seeds initialisation, batches and noise.")
    checkpoint_every: int = Field(0, ge=0, description="Save a checkpoint every this many steps; 0 disables.")
