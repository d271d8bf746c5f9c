"""ESRGAN/RRDBNet super-resolution: srgan's recipe with a residual-in-residual dense generator."""

from pydantic import Field

from training.families.spec import Family
from training.families.srgan import SRHyperparameters


class ESRGANHyperparameters(SRHyperparameters):
    """ESRGAN: an RRDBNet generator (23 residual-in-residual dense blocks, growth 32)."""

    blocks: int = Field(23, ge=1, le=64, description="RRDB blocks (23 in ESRGAN).")
    growth: int = Field(32, ge=4, le=128, description="Channels each dense-block convolution adds (ESRGAN: 32).")
    global_residual: bool = Field(False, description="Add the bilinear-upsampled input to the output (not in ESRGAN).")

FAMILY = Family(
    name="esrgan",
    summary="ESRGAN/RRDBNet super-resolution x2/x4 (residual scaling 0.2): same two phases as srgan.",
    task="upscale",
    layouts=("images",),
    hyperparameters=ESRGANHyperparameters,
    recipe="super_resolution",
    options={"generator": "rrdbnet"},
)
