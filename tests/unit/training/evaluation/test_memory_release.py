"""An evaluation keeps no extractor alive once it has answered (issue 27, item 11): the worker
measured with InceptionV3 and stayed at 1.3 GiB; now the extractor is collected and the freed
heap handed back (training/evaluation/run.py give_back_memory)."""

import gc
import shutil
from pathlib import Path

from models.store import ModelStore
from service.core.settings import Settings
from training.data.store import DatasetStore
from training.evaluation.metrics.extractors import MnistExtractor
from training.evaluation.run import Evaluation, evaluate_generator

ZOO = Path(__file__).resolve().parents[4] / "models" / "zoo"


def test_no_extractor_outlives_the_evaluation(tmp_path):
    store = ModelStore(tmp_path / "zoo")
    shutil.copytree(ZOO / "mnist-cdcgan", store.root / "mnist-cdcgan")
    settings = Settings(state_dir=tmp_path / "state", ort_threads=1)
    evaluation = Evaluation(models=store, datasets=DatasetStore.from_settings(settings),
                            real_stats_dir=tmp_path / "real_stats", ort_threads=1)
    figures = evaluate_generator(evaluation, store.resolve("mnist-cdcgan"), "digits", 100, "mnist")
    assert figures["extractor"] == "mnist_cnn" and figures["resize_mode"] == "bicubic_aa_pad4"
    assert [o for o in gc.get_objects() if isinstance(o, MnistExtractor)] == []
