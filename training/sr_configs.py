"""Super-resolution trainer settings (SRGAN / ESRGAN families), free of torch for the API.

Two phases, as in ESRGAN (Wang et al. 2018, section 4.1):

1. `pretrain_fraction` of the steps: the generator alone with L1 loss ("PSNR-oriented"),
   Adam lr 2e-4, betas (0.9, 0.99).
2. the rest: L1 + feature loss + relativistic average GAN loss, lr 1e-4 for G and D.
   ESRGAN's weights are pixel (L1) 1e-2, perceptual 1 and GAN 5e-3, with the perceptual
   loss on VGG19 conv5_4 features before activation.

ImageNet VGG weights cannot be downloaded on these machines, so the feature loss defaults to
**discriminator feature matching** (Salimans et al. 2016; pix2pixHD): L1 between the
discriminator's activations after each stage for the real and the generated image, averaged
over stages. It plays the perceptual loss's part (match statistics of features, not pixels)
and needs no download; ESRGAN's weight of 1 is kept for it, since both are L1 distances
between feature maps of similar magnitude. With `feature_loss="vgg"` a VGG19 weights file
(safetensors, torchvision key names `features.N.weight`) named by `vgg_weights_path` is used
instead, which is what the ESRGAN paper did (an SRConfig built in Python only: workers have no such file,
so POST /train and `python -m training srgan` refuse it); a run records which loss it used, in its manifest's metrics.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FeatureLoss = Literal["feature_matching", "vgg"]


class SRHyperparameters(BaseModel):
    """Knobs of an SRGAN run (MSRResNet generator) that POST /train may set."""

    model_config = ConfigDict(extra="forbid")

    scale: Literal[2, 4] = Field(4, description="Upscaling factor of the network (sub-pixel convolution).")
    features: int = Field(64, ge=4, le=256, description="Generator width (64 in SRGAN/ESRGAN).")
    blocks: int = Field(16, ge=1, le=64, description="Residual blocks (16 in SRResNet).")
    upsampler: Literal["progressive", "direct"] = Field(
        "progressive", description="progressive: x2 pixel-shuffle stages + conv at full size (MSRResNet); "
        "direct: one conv + PixelShuffle(scale), ~4x cheaper at x4 (ESPCN).",
    )
    global_residual: bool = Field(True, description="Add the bilinear-upsampled input to the output (MSRResNet).")
    patch_size: int = Field(32, ge=8, le=128, description="Low-resolution patch side; high-resolution patches are scale times it (ESRGAN: 32 at x4).")
    batch_size: int = Field(16, ge=1, le=256, description="Patches per step (ESRGAN: 16).")
    pretrain_fraction: float = Field(0.5, ge=0, le=1, description="Share of the steps trained with L1 alone before the GAN phase.")
    lr_pretrain: float = Field(2e-4, gt=0, le=1, description="Generator learning rate of the L1 phase (ESRGAN: 2e-4).")
    lr_g: float = Field(1e-4, gt=0, le=1, description="Generator learning rate of the GAN phase (ESRGAN: 1e-4).")
    lr_d: float = Field(1e-4, gt=0, le=1, description="Discriminator learning rate (ESRGAN: 1e-4).")
    beta1: float = Field(0.9, ge=0, lt=1, description="Adam beta1 (ESRGAN: 0.9).")
    beta2: float = Field(0.99, ge=0, lt=1, description="Adam beta2 (ESRGAN: 0.99).")
    cosine_decay: bool = Field(True, description="Cosine-decay each phase's learning rate to a tenth over its steps.")
    pixel_weight: float = Field(1e-2, ge=0, le=100, description="Weight of L1 in the GAN phase (ESRGAN: 1e-2).")
    feature_weight: float = Field(1.0, ge=0, le=100, description="Weight of the feature loss (ESRGAN's perceptual weight: 1).")
    gan_weight: float = Field(5e-3, ge=0, le=10, description="Weight of the relativistic average GAN loss (ESRGAN: 5e-3).")
    feature_loss: Literal["feature_matching"] = Field(
        "feature_matching",
        description="L1 on discriminator activations (no download). The VGG19 perceptual loss needs a local weights "
        "file, which workers do not have: it is offered to Python callers of "
        "training.sr_trainer.train_sr only (SRConfig with feature_loss='vgg' and vgg_weights_path).",
    )
    d_features: int = Field(64, ge=4, le=256, description="Width of the discriminator's first stage.")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="Decay of the generator's moving average; 0 disables it.")


class ESRGANHyperparameters(SRHyperparameters):
    """ESRGAN: an RRDBNet generator (23 residual-in-residual dense blocks, growth 32)."""

    blocks: int = Field(23, ge=1, le=64, description="RRDB blocks (23 in ESRGAN).")
    growth: int = Field(32, ge=4, le=128, description="Channels each dense-block convolution adds (ESRGAN: 32).")
    global_residual: bool = Field(False, description="Add the bilinear-upsampled input to the output (not in ESRGAN).")


class SRConfig(ESRGANHyperparameters):
    """Everything that decides a super-resolution run, apart from the data."""

    generator: Literal["msrresnet", "rrdbnet"] = Field("msrresnet", description="Registered generator architecture.")
    global_residual: bool = Field(True, description="Add the bilinear-upsampled input to the output.")
    steps: int = Field(1000, ge=0, description="Generator updates over both phases.")
    seed: int = Field(0, ge=0, description="Seeds initialisation, patches and augmentation.")
    checkpoint_every: int = Field(0, ge=0, description="Save a checkpoint every this many steps; 0 disables.")
    feature_loss: FeatureLoss = Field("feature_matching", description="feature_matching, or vgg with vgg_weights_path.")
    vgg_weights_path: str | None = Field(None, description="VGG19 safetensors file for feature_loss='vgg'.")

    @model_validator(mode="after")
    def _vgg_needs_weights(self):
        if self.feature_loss == "vgg" and not self.vgg_weights_path:
            raise ValueError("feature_loss 'vgg' needs vgg_weights_path: VGG weights cannot be downloaded here")
        return self

    @property
    def pretrain_steps(self) -> int:
        return round(self.steps * self.pretrain_fraction)

    def generator_config(self, channels: int) -> dict:
        config = {"channels": channels, "features": self.features, "blocks": self.blocks, "scale": self.scale,
                  "upsampler": self.upsampler, "global_residual": self.global_residual}
        if self.generator == "rrdbnet":
            config["growth"] = self.growth
        return config
