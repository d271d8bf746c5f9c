"""SRGAN (Ledig et al. 2017) with ESRGAN's training recipe: an MSRResNet generator. Free of torch.

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

from pydantic import Field

from training.families.shared import TrainerOptions
from training.families.spec import Family


class SRHyperparameters(TrainerOptions):
    """Knobs of an SRGAN run (MSRResNet generator) that POST /train may set."""

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
        "training.trainers.super_resolution.train_sr only (SRConfig with feature_loss='vgg' and vgg_weights_path).",
    )
    d_features: int = Field(64, ge=4, le=256, description="Width of the discriminator's first stage.")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="Decay of the generator's moving average; 0 disables it.")


FAMILY = Family(
    name="srgan",
    summary="SRGAN/MSRResNet super-resolution x2/x4: L1 pretraining, then L1 + feature loss + relativistic "
    "GAN (ESRGAN weights 1e-2 / 1 / 5e-3); feature matching unless VGG weights are configured.",
    task="upscale",
    layouts=("images",),
    hyperparameters=SRHyperparameters,
    recipe="super_resolution",
    options={"generator": "msrresnet"},
)
