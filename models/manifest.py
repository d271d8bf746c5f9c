"""The manifest of a model version: what the ONNX file is, how to call it, and where it came from.

Kept free of torch so the API can read manifests without loading a training stack.
"""

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Task = Literal["generate", "translate", "upscale"]


class StyleSpec(BaseModel):
    """What a style-based generator (StyleGAN2) adds to a generator's signature: its mapping
    network is a second ONNX file (z [+ labels] -> w), and the version's main ONNX file is the
    synthesis network (one w per layer, noise maps -> images), so truncation, style mixing and
    latent walks are done on w between the two."""

    w_dim: int = Field(description="Length of w.", examples=[128])
    num_ws: int = Field(description="How many w the synthesis network reads, one per layer.", examples=[8])
    w_avg: list[float] = Field(description="The tracked average of w: the centre that truncation_psi pulls towards.",
                               examples=[[0.12, -0.03]])
    layer_resolutions: list[int] = Field(
        description="Resolution of the layer that reads each w, by index: a style_mixing crossover at index k "
        "gives the second seed every layer from k on (low k: coarse structure; high k: fine detail).",
        examples=[[4, 8, 8, 16, 16, 32, 32, 32]],
    )
    noise_shapes: list[list[int]] = Field(
        description="Shape [1, H, W] of each layer's noise map; the input 'noise' holds them flattened, in order.",
        examples=[[[1, 4, 4], [1, 8, 8]]])
    mapping_file: str = Field("mapping.onnx", description="ONNX file of the mapping network: 'z' [, 'labels'] -> 'w'.",
                              examples=["mapping.onnx"])


class GeneratorSignature(BaseModel):
    """How to call a noise-to-image generator exported to ONNX."""

    kind: Literal["generator"] = Field("generator", description="Which sort of signature this is.", examples=["generator"])
    latent_dim: int = Field(description="Length of the latent vector z.", examples=[64])
    num_classes: int = Field(0, description="Number of classes; 0 for an unconditional model.", examples=[10])
    class_names: list[str] = Field(default_factory=list, description="Name of each class, by index.",
                                   examples=[["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]])
    image_size: int = Field(description="Height and width of the square output, in pixels.", examples=[28])
    channels: int = Field(description="1 for grayscale, 3 for RGB.", examples=[1])
    inputs: list[str] = Field(
        description="ONNX input names: 'z' (float32 [N, latent_dim]) and, when conditional, "
        "'labels' (int64 [N]).",
        examples=[["z", "labels"]],
    )
    output: str = Field("images", description="ONNX output name: float32 [N, C, H, W] in [-1, 1].",
                        examples=["images"])
    style: StyleSpec | None = Field(
        None, description="Set for style-based generators: the main ONNX file is then the synthesis network, "
        "with inputs 'ws' (float32 [N, num_ws, w_dim]), 'noise_mix' (float32 [N]: 0 the stored noise, 1 the "
        "given noise maps) and 'noise' (float32 [N, sum of H*W]: every layer's noise map, flattened).",
        examples=[None],
    )
    codes: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Controllable codes beside z (InfoGAN), in input order: {name, kind: categorical|continuous, "
        "size or range}. They are fed as the ONNX input 'codes' (float32 [N, total]).",
        examples=[[{"name": "digit", "kind": "categorical", "size": 10}, {"name": "width", "kind": "continuous", "range": [-2, 2]}]],
    )


class TranslationDirection(BaseModel):
    """One direction of an image-to-image model: its own ONNX file in the version folder."""

    onnx_file: str = Field(description="ONNX file of this direction.", examples=["a2b.onnx"])
    channels_in: int = Field(description="Channels the network takes: 1 gray, 3 RGB.", examples=[1])
    channels_out: int = Field(description="Channels it produces.", examples=[3])


class TranslatorSignature(BaseModel):
    """How to call an image-to-image network (pix2pix, CycleGAN): 'image' float32 [N, C, H, W] in
    [-1, 1] -> 'translated' float32 [N, C', H, W] in [-1, 1], H and W multiples of size_multiple."""

    kind: Literal["translator"] = Field("translator", description="Which sort of signature this is.",
                                        examples=["translator"])
    image_size: int = Field(description="Square size it was trained at.", examples=[64])
    size_multiple: int = Field(description="Inputs are padded to a multiple of this.", examples=[16])
    directions: dict[str, TranslationDirection] = Field(
        description="'a2b', and 'b2a' for models that carry both generators.",
        examples=[{"a2b": {"onnx_file": "model.onnx", "channels_in": 1, "channels_out": 1}}],
    )
    domains: dict[str, str] = Field(default_factory=dict, description="What A and B are.", examples=[{"A": "edges", "B": "digits"}])
    input: str = Field("image", description="ONNX input name.", examples=["image"])
    output: str = Field("translated", description="ONNX output name.", examples=["translated"])


class UpscalerSignature(BaseModel):
    """How to call a super-resolution network: 'image' float32 [N, C, H, W] in [0, 1] ->
    'upscaled' float32 [N, C, scale*H, scale*W] in [0, 1]."""

    kind: Literal["upscaler"] = Field("upscaler", description="Which sort of signature this is.", examples=["upscaler"])
    scale: int = Field(description="The network's upscaling factor.", examples=[4])
    channels: int = Field(description="Channels in and out.", examples=[3])
    image_size: int = Field(description="Low-resolution patch size it was trained on.", examples=[32])
    size_multiple: int = Field(1, description="Inputs are padded to a multiple of this.", examples=[1])
    input: str = Field("image", description="ONNX input name.", examples=["image"])
    output: str = Field("upscaled", description="ONNX output name.", examples=["upscaled"])


Signature = GeneratorSignature | TranslatorSignature | UpscalerSignature


class SourceFile(BaseModel):
    """One checkpoint file an imported version was made from."""

    name: str = Field(description="The file's name as uploaded.", examples=["netG.pth"])
    sha256: str = Field(description="SHA-256 of the file's bytes.",
                        examples=["9f2c1a7e0b8d4c6f5a3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a"])


class ImportedFrom(BaseModel):
    """Where an imported version's weights came from: another project's checkpoint format."""

    format: str = Field(description="Checkpoint format it was read as.", examples=["pytorch-examples-dcgan"])
    files: list[SourceFile] = Field(description="The uploaded files, in the order the format reads them.",
                                    examples=[[{"name": "netG.pth", "sha256": "9f2c1a7e0b8d4c6f5a3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a"}]])
    options: dict[str, Any] = Field(default_factory=dict, description="Options the import was given.",
                                    examples=[{"netG": "unet_256", "norm": "batch"}])
    notes: list[str] = Field(default_factory=list, description="What the conversion inferred or chose, for a reader.",
                             examples=[["nz=100, ngf=64, nc=3 read from the tensor shapes"]])


class Provenance(BaseModel):
    """Where a version came from, enough to reproduce it."""

    trainer: str = Field(description="Trainer that produced the weights.", examples=["dcgan"])
    dataset: str = Field(description="Dataset it was trained on.", examples=["mnist-5k"])
    seed: int = Field(description="Training seed.", examples=[0])
    steps: int = Field(description="Optimizer steps taken by the generator.", examples=[3000])
    job_id: str | None = Field(None, description="Training job that produced it, when trained over HTTP.",
                               examples=["5b0c8c5e2f8e4b1c9a7d3e2f1a0b9c8d"])
    command: str | None = Field(None, description="Command line that reproduces it, for bundled models.",
                                examples=["python -m training.cli dcgan --dataset mnist-5k --conditional ..."])
    hyperparameters: dict[str, Any] = Field(default_factory=dict, description="Trainer settings used.",
                                            examples=[{"lr_g": 0.0002, "batch_size": 64}])
    imported_from: ImportedFrom | None = Field(
        None, description="Set for a version imported from a checkpoint (POST /models/{name}/import): the format, "
        "each file's name and SHA-256, and the options.", examples=[None])


class Manifest(BaseModel):
    """One version of one model: an ONNX file beside this JSON."""

    name: str = Field(description="Model name.", examples=["mnist-cdcgan"])
    version: int = Field(description="Version number, counting from 1.", examples=[1])
    task: Task = Field(description="What the model does.", examples=["generate"])
    architecture: str = Field(description="Registered architecture name.", examples=["cdcgan_generator"])
    config: dict[str, Any] = Field(description="Keyword arguments that rebuild the architecture.",
                                   examples=[{"latent_dim": 64, "num_classes": 10, "image_size": 28, "channels": 1}])
    signature: Signature = Field(description="How to call the ONNX file(s); `kind` tells which sort.",
                                 examples=[{"kind": "generator", "latent_dim": 64, "num_classes": 10, "class_names": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"], "image_size": 28, "channels": 1, "inputs": ["z", "labels"], "output": "images"}])
    provenance: Provenance = Field(description="Where the version came from, enough to reproduce it.",
                                   examples=[{"trainer": "dcgan", "dataset": "mnist-5k", "seed": 0, "steps": 3000}])
    metrics: dict[str, Any] = Field(default_factory=dict, description="Quality metrics, by name.",
                                    examples=[{"evaluations": {"mnist-5k/mnist_cnn": {"fid": 0.378}}}])
    onnx_file: str = Field("model.onnx", description="ONNX file name inside the version folder.", examples=["model.onnx"])
    onnx_sha256: str = Field(description="SHA-256 of the ONNX file.",
                             examples=["cfa11d17e0c4b7d0a4c1f5e2b9f6a3d8c7e1b2a4f5d6c7b8a9e0f1d2c3b4a5f6"])
    variants: dict[str, str] = Field(
        default_factory=dict,
        description="Other encodings of the same network, by name: 'fp16' -> an ONNX file with float16 "
        "weights and float32 inputs and outputs, for GPUs.",
        examples=[{"fp16": "model.fp16.onnx"}],
    )
    parity_max_abs_diff: float = Field(
        description="Largest |ONNX Runtime - PyTorch| seen when the version was exported.",
        examples=[1.4e-06],
    )
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC),
                                 description="When the version was registered.", examples=["2026-11-23T06:14:02Z"])

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"
