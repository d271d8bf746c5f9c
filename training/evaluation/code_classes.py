"""InfoGAN's categories matched to the classes they draw, so a user can ask for a digit by its label.

InfoGAN learns its categorical code without labels: value k comes to draw *some* digit, not
digit k (the bundled mnist-infogan draws a 6 for value 1 and a 1 for value 3). At registration
the samples of each value are read by the digit judge (the classifier behind class_accuracy,
framed by the training data: training/evaluation/metrics/extractors.py), values and digits are
matched one to one by the assignment the judge agrees with most often (the Hungarian method), and
the code's entry in the signature records it: `classes` (the judge's class names), `draws`
(per value, the index in `classes` of the class it draws), `agreement` (the share of samples
the judge reads as their value's class) and `judged_by`. /generate then takes `labels` for the
model (models/inference/codes.py).

Only a categorical code with one value per digit, on digit data, is matched: other categories
mean what the model made of them, and no judge here can name that.
"""

from collections.abc import Callable

import numpy as np

from models.inference.codes import code_matrix
from models.inference.latents import sample_latents
from models.inference.pixels import signed_to_unit

DIGIT_CLASSES = [str(d) for d in range(10)]
PER_VALUE = 200  # samples judged per category value
# (z [n, latent_dim], codes [n, width]) -> images [n, C, H, W] in [-1, 1]: the generator as it will be served
Generate = Callable[[np.ndarray, np.ndarray], np.ndarray]


def matchable(specs: list[dict]) -> dict | None:
    """The categorical code that can be matched to digits: the first with one value per digit."""
    return next((s for s in specs if s["kind"] == "categorical" and s["size"] == len(DIGIT_CLASSES)), None)


def confusion_matrix(generate: Generate, specs: list[dict], latent_dim: int, judge, per_value: int = PER_VALUE,
                     seed: int = 0) -> np.ndarray:
    """int [values, classes]: how often the judge reads each value's samples as each class; every
    other code drawn from the seed, the same z for every value."""
    spec = matchable(specs)
    z = sample_latents(seed, per_value, latent_dim)
    counts = np.zeros((spec["size"], len(DIGIT_CLASSES)), dtype=np.int64)
    for value in range(spec["size"]):
        codes = code_matrix(specs, per_value, seed, {spec["name"]: value})
        read = judge.logits(signed_to_unit(np.clip(generate(z, codes), -1, 1))).argmax(axis=1)
        counts[value] = np.bincount(read, minlength=len(DIGIT_CLASSES))
    return counts


def match(confusion: np.ndarray) -> tuple[list[int], float, list[float]]:
    """Per value the class it is matched to, the overall agreement and each value's own."""
    from scipy.optimize import linear_sum_assignment

    values, classes = linear_sum_assignment(-confusion)
    draws = [int(c) for _, c in sorted(zip(values, classes, strict=True))]
    hits = confusion[np.arange(len(draws)), draws]
    return draws, float(hits.sum() / confusion.sum()), [float(h / row.sum()) for h, row in zip(hits, confusion,
                                                                                               strict=True)]


def label_codes(specs: list[dict], generate: Generate, latent_dim: int, judge, per_value: int = PER_VALUE,
                seed: int = 0) -> list[dict]:
    """`specs` with the matchable category annotated (classes, draws, agreement, agreement_by_value,
    judged_by); unchanged when there is none."""
    spec = matchable(specs)
    if spec is None:
        return specs
    draws, agreement, per_value_agreement = match(confusion_matrix(generate, specs, latent_dim, judge, per_value, seed))
    labelled = {**spec, "classes": DIGIT_CLASSES, "draws": draws, "agreement": round(agreement, 4),
                "agreement_by_value": [round(a, 4) for a in per_value_agreement],
                "judged_by": f"{judge.name} ({judge.resize_mode}), {per_value} samples a value"}
    return [labelled if s is spec else s for s in specs]


def label_registered(store_root, ref: str, dataset: str = "mnist-5k", per_value: int = PER_VALUE, seed: int = 0):
    """Match a registered version's category through its ONNX file, as served, and write the
    matching into its manifest (how the bundled mnist-infogan got its own): the manifest."""
    from pathlib import Path

    from models.inference.sessions import open_session
    from models.store import ModelStore
    from training.data.builtin_datasets import builtin_datasets
    from training.evaluation.extractor_choice import ExtractorChoice
    from training.evaluation.metrics import build_extractor

    store = ModelStore(Path(store_root))
    manifest = store.resolve(ref)
    signature = manifest.signature
    real, _ = builtin_datasets()[dataset].load(signature.image_size, signature.channels)
    judge = build_extractor(ExtractorChoice("mnist"), "cpu", signed_to_unit(real))
    session = open_session(store.onnx_path(manifest))
    codes = label_codes(signature.codes, lambda z, c: session.run(None, {"z": z, "codes": c})[0],
                        signature.latent_dim, judge, per_value, seed)
    manifest = manifest.model_copy(update={"signature": signature.model_copy(update={"codes": codes})})
    path = Path(store_root) / manifest.name / str(manifest.version) / "manifest.json"
    path.write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Match an InfoGAN version's category to the digits it draws.")
    parser.add_argument("--store", required=True, help="model store folder, e.g. models/zoo")
    parser.add_argument("--model", required=True, help="name:version, e.g. mnist-infogan:1")
    parser.add_argument("--dataset", default="mnist-5k", help="built-in digit data that frames the judge")
    args = parser.parse_args()
    labelled = label_registered(args.store, args.model, args.dataset)
    print([spec for spec in labelled.signature.codes if spec.get("draws")])
