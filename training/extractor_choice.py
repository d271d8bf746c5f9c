"""Which feature extractor can measure which generator, decided without loading torch.

The API refuses an evaluation that cannot run (422) before it queues a job, and the workers
make the same decision when they run one, so the rule lives here, free of torch (importing
`training.metrics` would load it).

- `mnist`: the project's digit classifier (training/metrics/mnist_net.py). It reads one channel,
  so it applies only to grayscale models; other sizes are resized to its 28 x 28.
- `inception`: InceptionV3 pool3 features, the usual FID network. Its weights are an optional
  download, so it applies only when `inception_path` names the file (or its folder).
- `auto`: `mnist` for grayscale images of MNIST-like size, else `inception` when it is
  configured, else nothing suits and the request says why.
"""

from dataclasses import dataclass
from pathlib import Path

EXTRACTORS = ("auto", "mnist", "inception")

# The InceptionV3 weights' file name and how to fetch it: here, free of torch, for the API, the
# extractor (training/metrics/extractors.py) and the fetcher alike.
INCEPTION_FILENAME = "default_1.pt"
FETCH_HINT = "python -m training.metrics.fetch_inception --out DIR"

# The classifier learned 28 x 28 digits; `auto` picks it only for sizes a resize barely changes.
MNIST_AUTO_SIZES = range(20, 37)


class ExtractorUnsuitable(ValueError):
    """The requested extractor cannot measure these images; the message says why and what to do."""


@dataclass(frozen=True)
class ExtractorChoice:
    name: str  # "mnist" or "inception"
    inception_file: Path | None = None


def inception_file(inception_path: Path | None) -> Path | None:
    """The Inception TorchScript file that `inception_path` names, or None when there is none."""
    if inception_path is None:
        return None
    path = Path(inception_path)
    if path.is_dir():
        path = path / INCEPTION_FILENAME
    return path if path.is_file() else None


def choose_extractor(requested: str, *, channels: int, image_size: int,
                     inception_path: Path | None) -> ExtractorChoice:
    """The extractor for images of this shape; ExtractorUnsuitable when the request can't be met."""
    if requested not in EXTRACTORS:
        raise ExtractorUnsuitable(f"extractor must be one of {', '.join(EXTRACTORS)}, not {requested!r}")
    inception = inception_file(inception_path)
    if requested == "mnist":
        if channels != 1:
            raise ExtractorUnsuitable(
                f"the mnist extractor reads grayscale digits; these images have {channels} channels "
                "(use extractor 'inception')"
            )
        return ExtractorChoice("mnist")
    if requested == "inception":
        if inception is None:
            raise ExtractorUnsuitable(_missing_inception(inception_path))
        return ExtractorChoice("inception", inception)
    if channels == 1 and image_size in MNIST_AUTO_SIZES:
        return ExtractorChoice("mnist")
    if inception is not None:
        return ExtractorChoice("inception", inception)
    raise ExtractorUnsuitable(
        f"no extractor suits {channels}-channel {image_size}x{image_size} images: 'mnist' applies to "
        f"grayscale images of {MNIST_AUTO_SIZES.start}..{MNIST_AUTO_SIZES.stop - 1} px (ask for it "
        f"explicitly for other grayscale sizes), and {_missing_inception(inception_path)}"
    )


def _missing_inception(inception_path: Path | None) -> str:
    where = f"nothing usable at {inception_path}" if inception_path else "GANFORGE_INCEPTION_PATH is not set"
    return (
        f"the inception extractor needs its weights ({where}): fetch them with `{FETCH_HINT}` "
        f"and set GANFORGE_INCEPTION_PATH to DIR/{INCEPTION_FILENAME}"
    )
