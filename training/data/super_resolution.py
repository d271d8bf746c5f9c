"""Photos that packages ship, for training and judging super-resolution without a download.

scikit-image's sample photos (read from its data folder, no fetch), scikit-learn's two sample
photos and matplotlib's grace_hopper.jpg when matplotlib is installed. A fixed list is held
out: those photos are never cut into training patches, and the bundled sr-x4 is measured on
them (tests/test_upscale_quality.py checks the two lists stay disjoint). The stereo pair
motorcycle_left/right is kept together on the training side, so no near-copy of a training
photo is ever judged.
"""

from pathlib import Path

import numpy as np
from PIL import Image

# name -> (package, file name inside its data folder)
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "astronaut.png"),
    "rocket": ("skimage", "rocket.jpg"),
    "motorcycle_left": ("skimage", "motorcycle_left.png"),
    "motorcycle_right": ("skimage", "motorcycle_right.png"),
    "hubble_deep_field": ("skimage", "hubble_deep_field.jpg"),
    "immunohistochemistry": ("skimage", "ihc.png"),
    "retina": ("skimage", "retina.jpg"),
    "camera": ("skimage", "camera.png"),
    "coins": ("skimage", "coins.png"),
    "moon": ("skimage", "moon.png"),
    "brick": ("skimage", "brick.png"),
    "grass": ("skimage", "grass.png"),
    "gravel": ("skimage", "gravel.png"),
    "page": ("skimage", "page.png"),
    "text": ("skimage", "text.png"),
    "china": ("sklearn", "china.jpg"),
    "grace_hopper": ("matplotlib", "grace_hopper.jpg"),
    # held out
    "chelsea": ("skimage", "chelsea.png"),
    "coffee": ("skimage", "coffee.png"),
    "flower": ("sklearn", "flower.jpg"),
}

HELD_OUT: tuple[str, ...] = ("chelsea", "coffee", "flower")
TRAINING: tuple[str, ...] = tuple(name for name in PHOTOS if name not in HELD_OUT)


def _data_folder(package: str) -> Path | None:
    if package == "skimage":
        import skimage.data

        return Path(skimage.data.__file__).parent
    if package == "sklearn":
        import sklearn.datasets

        return Path(sklearn.datasets.__file__).parent / "images"
    if package == "matplotlib":
        try:
            import matplotlib
        except ImportError:
            return None
        return Path(matplotlib.get_data_path()) / "sample_data"
    raise ValueError(f"unknown package {package!r}")


def photo_path(name: str) -> Path | None:
    package, file_name = PHOTOS[name]
    folder = _data_folder(package)
    path = folder / file_name if folder is not None else None
    return path if path is not None and path.is_file() else None


def load_photo(name: str) -> np.ndarray:
    """H x W x 3 uint8 RGB (gray photos replicated to three channels)."""
    path = photo_path(name)
    if path is None:
        raise FileNotFoundError(f"photo {name!r} is not installed ({PHOTOS[name][0]})")
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def available(names: tuple[str, ...]) -> tuple[str, ...]:
    """The photos of `names` whose package is installed (matplotlib is optional)."""
    return tuple(name for name in names if photo_path(name) is not None)


def training_photos() -> list[np.ndarray]:
    return [load_photo(name) for name in available(TRAINING)]


def held_out_photos() -> dict[str, np.ndarray]:
    return {name: load_photo(name) for name in available(HELD_OUT)}
