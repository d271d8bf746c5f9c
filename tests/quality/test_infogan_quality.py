"""The bundled mnist-infogan learned, with no labels, a categorical code that picks the digit.

For each value of its 10-way code, 100 samples (other codes and z drawn from the seed) go
through the bundled ONNX file; the project's digit classifier reads them. Codes are matched to
digits one-to-one (the assignment that agrees most: InfoGAN is never told which value is which
digit). The issue asks for 80%; the bundled model (8,000 steps on a CPU, seed 1) agrees on 98.5%.
Against 10% for a code that carried no digit at all.
"""

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from models.inference.codes import code_matrix
from models.inference.latents import sample_latents
from models.inference.pixels import signed_to_unit
from models.inference.sessions import open_session
from models.store import ModelStore, file_sha256

ZOO = Path(__file__).resolve().parents[2] / "models" / "zoo"
PER_CODE = 100
REQUIRED_AGREEMENT = 0.80  # measured 0.985 (training/zoo/infogan.py has the seeds that do worse)


@pytest.fixture(scope="module")
def bundled():
    store = ModelStore(ZOO)
    manifest = store.resolve("mnist-infogan")
    return manifest, store.onnx_path(manifest)


def test_bundled_infogan_names_its_codes(bundled):
    manifest, path = bundled
    assert file_sha256(path) == manifest.onnx_sha256 and path.stat().st_size < 5 * 2**20
    assert manifest.signature.inputs == ["z", "codes"]
    assert [c["name"] for c in manifest.signature.codes] == ["category", "continuous_0", "continuous_1"]
    assert manifest.signature.codes[0]["size"] == 10


def test_the_categorical_code_controls_the_digit(bundled):
    from training.evaluation.metrics import MnistExtractor

    manifest, path = bundled
    signature = manifest.signature
    session = open_session(path)
    classifier = MnistExtractor()
    confusion = np.zeros((10, 10), dtype=np.int64)
    for category in range(10):
        seed = 1000 + category
        feeds = {"z": sample_latents(seed, PER_CODE, signature.latent_dim),
                 "codes": code_matrix(signature.codes, PER_CODE, seed, {"category": category})}
        images = signed_to_unit(session.run(None, feeds)[0])
        digits = classifier.logits(images).argmax(axis=1)
        confusion[category] += np.bincount(digits, minlength=10)
    codes, digits = linear_sum_assignment(-confusion)
    agreement = confusion[codes, digits].sum() / confusion.sum()
    assert len(set(digits)) == 10  # every digit has its own code
    assert agreement >= REQUIRED_AGREEMENT, (agreement, confusion)
    # the manifest records the same matching (training/evaluation/code_classes.py), so labels can use it
    category = signature.codes[0]
    assert category["draws"] == [int(d) for _, d in sorted(zip(codes, digits))]
    assert category["classes"] == [str(d) for d in range(10)] and category["agreement"] >= REQUIRED_AGREEMENT
