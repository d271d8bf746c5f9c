"""Evaluation: the bundled model measured (real ONNX and classifier), and POST /evaluate plus the
evaluation at the end of training (integration). Which extractor applies, without running one:
tests/unit/training/test_extractor_choice.py."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from models.store import ModelStore
from service.core.settings import Settings
from training.data.store import DatasetStore

REPO = Path(__file__).resolve().parents[2]
ZOO = REPO / "models" / "zoo"
MODEL = "mnist-cdcgan"
N = 200


# -- the bundled model, measured -----------------------------------------------------------------

@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """The bundled model evaluated once, in a copy of the zoo (the committed one stays as it is)."""
    from training.evaluation.run import Evaluation, evaluate_generator

    root = tmp_path_factory.mktemp("evaluation")
    store = ModelStore(root / "zoo")
    shutil.copytree(ZOO, store.root)
    settings = Settings(state_dir=root / "state", ort_threads=1)
    evaluation = Evaluation(models=store, datasets=DatasetStore.from_settings(settings),
                            real_stats_dir=settings.artifacts_dir / "real_stats", ort_threads=1)
    manifest = store.resolve(MODEL)
    figures = evaluate_generator(evaluation, manifest, "mnist-5k", N, "mnist", seed=3, job_id="job-1")
    return evaluation, store, figures


def test_the_bundled_model_draws_the_digits_it_is_asked_for(measured):
    _, _, figures = measured
    assert figures["class_accuracy"] >= 0.8, figures
    assert set(figures["class_accuracy_by_class"]) == {str(d) for d in range(10)}


def test_its_fid_is_far_below_that_of_noise(measured):
    from training.evaluation.metrics import (
        MnistExtractor,
        RealStatsCache,
        frechet_distance,
    )
    from training.evaluation.metrics.frechet import feature_statistics
    from training.evaluation.run import real_stats_name

    evaluation, store, figures = measured
    extractor = MnistExtractor()
    real = RealStatsCache(evaluation.real_stats_dir).load(
        real_stats_name("mnist-5k", store.resolve(MODEL).signature), extractor.name, extractor.resize_mode)
    noise = np.random.default_rng(0).random((N, 1, 28, 28), dtype=np.float32)
    noise_fid = frechet_distance(real.mean, real.cov, *feature_statistics(extractor.features(noise)))
    assert figures["fid"] < noise_fid / 20, (figures["fid"], noise_fid)


def test_every_figure_says_how_it_was_made_and_lands_in_the_manifest(measured):
    _, store, figures = measured
    assert figures["extractor"] == "mnist_cnn" and figures["resize_mode"] == "bicubic_aa"
    assert figures["n_real"] == 5000 and figures["n_fake"] == N and figures["seed"] == 3
    assert figures["job_id"] == "job-1" and figures["evaluated_at"]
    assert 0 <= figures["precision"] <= 1 and 0 <= figures["recall"] <= 1 and figures["inception_score_mean"] > 1
    recorded = store.resolve(MODEL).metrics["evaluations"]["mnist-5k/mnist_cnn"]
    assert recorded == figures


# -- over HTTP -----------------------------------------------------------------------------------

@pytest.fixture
def warm_real_stats(measured, stack):
    """The stack's real-data cache filled from the unit tests' (the cache-miss path ran there)."""
    evaluation, _, _ = measured
    shutil.copytree(evaluation.real_stats_dir, stack.state_dir / "artifacts" / "real_stats",
                    dirs_exist_ok=True)


@pytest.mark.integration
def test_post_evaluate_measures_the_model_and_records_it(api, warm_real_stats):
    answer = api.post("/evaluate", json={"model": MODEL, "n_samples": N}, headers={"Prefer": "wait=120"})
    job = answer.json()
    assert answer.status_code == 200 and job["status"] == "succeeded", job
    assert job["kind"] == "evaluate" and job["model"] == {"name": MODEL, "version": 1}
    assert job["params"]["dataset"] == "mnist-5k" and job["params"]["extractor"] == "mnist"
    metrics = job["metrics"]
    assert metrics["extractor"] == "mnist_cnn" and metrics["resize_mode"] == "bicubic_aa"
    assert metrics["n_real"] == 5000 and metrics["n_fake"] == N and metrics["class_accuracy"] >= 0.8
    recorded = api.get(f"/models/{MODEL}").json()["latest"]["metrics"]["evaluations"]["mnist-5k/mnist_cnn"]
    assert recorded["job_id"] == job["id"] and recorded["fid"] == metrics["fid"]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"model": MODEL, "dataset": "lfw-faces", "extractor": "mnist"}, 422, "extractor"),
        ({"model": MODEL, "n_samples": 5}, 422, None),
        ({"model": "no-such-model"}, 404, None),
        ({"model": MODEL, "dataset": "no-such-data"}, 404, None),
    ],
)
def test_post_evaluate_refuses_what_cannot_run(api, body, status, field):
    answer = api.post("/evaluate", json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if field == "extractor":
        problem = answer.json()
        assert problem["errors"][0]["field"] == "extractor" and "handwritten-digit" in problem["detail"]


@pytest.mark.integration
def test_a_training_job_evaluates_the_version_it_publishes(api, warm_real_stats):
    body = {
        "architecture": "cdcgan", "dataset": "mnist-5k", "model_name": "mnist-eval-tiny", "image_size": 28,
        "steps": 4, "seed": 1, "checkpoint_every": 0, "sample_every": 0,
        "hyperparameters": {"base_features": 8, "batch_size": 16, "latent_dim": 16, "embed_dim": 4},
    }
    job = api.post("/train", json=body, headers={"Prefer": "wait=120"}).json()
    assert job["status"] == "succeeded", job
    evaluation = job["metrics"]["evaluation"]
    assert evaluation["extractor"] == "mnist_cnn" and evaluation["n_fake"] == 500 and evaluation["job_id"] == job["id"]
    manifest = api.get(f"/models/mnist-eval-tiny/versions/{job['model']['version']}").json()
    assert manifest["metrics"]["evaluations"]["mnist-5k/mnist_cnn"] == evaluation
