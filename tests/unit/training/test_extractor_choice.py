"""Which feature extractor an evaluation uses, decided without loading one (no torch in the API)."""

import subprocess
import sys
from pathlib import Path

import pytest

from training.extractor_choice import ExtractorUnsuitable, choose_extractor

REPO = Path(__file__).resolve().parents[3]


def test_auto_picks_the_digit_classifier_for_mnist_like_images():
    assert choose_extractor("auto", channels=1, image_size=28, inception_path=None).name == "mnist"


def test_mnist_extractor_refuses_rgb():
    with pytest.raises(ExtractorUnsuitable, match="3 channels"):
        choose_extractor("mnist", channels=3, image_size=28, inception_path=None)


def test_inception_without_its_file_says_how_to_fetch_it(tmp_path):
    for path in (None, tmp_path):
        with pytest.raises(ExtractorUnsuitable, match="fetch_inception"):
            choose_extractor("inception", channels=3, image_size=64, inception_path=path)
    with pytest.raises(ExtractorUnsuitable, match="no extractor suits 3-channel 64x64"):
        choose_extractor("auto", channels=3, image_size=64, inception_path=None)


def test_inception_applies_once_its_file_is_there(tmp_path):
    from training.extractor_choice import INCEPTION_FILENAME

    (tmp_path / INCEPTION_FILENAME).write_bytes(b"not opened by the choice")
    choice = choose_extractor("auto", channels=3, image_size=64, inception_path=tmp_path)
    assert choice.name == "inception" and choice.inception_file == tmp_path / INCEPTION_FILENAME



def test_the_evaluate_endpoint_imports_neither_torch_nor_onnxruntime():
    probe = (
        "import sys, service.api.app, service.api.routers.evaluate, training.extractor_choice; "
        "print(sorted({'torch', 'onnxruntime'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
