"""A model version seen as tensors in and tensors out, as the Open Inference Protocol shows it.

The inputs are the ONNX network's own inputs (its signature); the outputs are the network's
float32 output as it comes (NCHW) and the same pixels as uint8 images (NHWC, 0..255), so a
client can have either the numbers or ready-to-save pixels. -1 marks a dimension of any size.
"""

import math
from dataclasses import dataclass

import numpy as np

from models.manifest import (
    GeneratorSignature,
    Manifest,
    TranslatorSignature,
    UpscalerSignature,
)

UINT8_SUFFIX = "_uint8"
DEFAULT_DIRECTION = "a2b"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class TensorSignature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    onnx_file: str  # which file of the version runs (translators carry one per direction)
    network_output: str  # the ONNX output the float32 tensor is
    output_range: tuple[float, float]  # what the network's float32 output spans
    size_multiple: int = 1  # image sides must be multiples of this (translators, upscalers)
    min_side: int = 1  # and at least this long
    scale: int = 1  # output side / input side, for upscalers
    num_classes: int = 0  # labels must lie in 0..num_classes-1

    def input(self, name: str) -> TensorSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    def output(self, name: str) -> TensorSpec | None:
        return next((spec for spec in self.outputs if spec.name == name), None)


class UnknownDirection(LookupError):
    pass


def _image_outputs(name: str, channels: int, side: int) -> tuple[TensorSpec, TensorSpec]:
    return (TensorSpec(name, "FP32", (-1, channels, side, side)),
            TensorSpec(name + UINT8_SUFFIX, "UINT8", (-1, side, side, channels)))


def _generator_inputs(signature: GeneratorSignature) -> list[TensorSpec]:
    """z [+ labels] [+ InfoGAN codes]; a style-based generator's main file is its synthesis network."""
    style = getattr(signature, "style", None)
    if style is not None:
        noise = sum(math.prod(shape) for shape in style.noise_shapes)
        return [TensorSpec("ws", "FP32", (-1, style.num_ws, style.w_dim)), TensorSpec("noise_mix", "FP32", (-1,)),
                TensorSpec("noise", "FP32", (-1, noise))]
    inputs = [TensorSpec("z", "FP32", (-1, signature.latent_dim))]
    if "labels" in signature.inputs:
        inputs.append(TensorSpec("labels", "INT64", (-1,)))
    codes = getattr(signature, "codes", None)
    if codes:
        inputs.append(TensorSpec("codes", "FP32", (-1, sum(int(code.get("size", 1)) for code in codes))))
    return inputs


def tensor_signature(manifest: Manifest, direction: str = DEFAULT_DIRECTION) -> TensorSignature:
    """The tensors of a version (of one direction, for an image-to-image model)."""
    signature = manifest.signature
    if isinstance(signature, GeneratorSignature):
        inputs = _generator_inputs(signature)
        return TensorSignature(
            inputs=tuple(inputs), outputs=_image_outputs(signature.output, signature.channels, signature.image_size),
            onnx_file=manifest.onnx_file, network_output=signature.output, output_range=(-1.0, 1.0),
            num_classes=signature.num_classes,
        )
    if isinstance(signature, TranslatorSignature):
        chosen = signature.directions.get(direction)
        if chosen is None:
            raise UnknownDirection(f"{manifest.ref} has no direction {direction!r}; it has {sorted(signature.directions)}")
        return TensorSignature(
            inputs=(TensorSpec(signature.input, "FP32", (-1, chosen.channels_in, -1, -1)),),
            outputs=_image_outputs(signature.output, chosen.channels_out, -1),
            onnx_file=chosen.onnx_file, network_output=signature.output, output_range=(-1.0, 1.0),
            size_multiple=signature.size_multiple, min_side=16,  # the ResNet bottleneck's reflection pads
        )
    assert isinstance(signature, UpscalerSignature)
    return TensorSignature(
        inputs=(TensorSpec(signature.input, "FP32", (-1, signature.channels, -1, -1)),),
        outputs=_image_outputs(signature.output, signature.channels, -1),
        onnx_file=manifest.onnx_file, network_output=signature.output, output_range=(0.0, 1.0),
        size_multiple=signature.size_multiple, scale=signature.scale,
    )


def as_uint8_images(output: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """float32 NCHW over `value_range` -> uint8 NHWC in 0..255."""
    low, high = value_range
    scaled = np.clip(np.rint((output - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(scaled.transpose(0, 2, 3, 1))
