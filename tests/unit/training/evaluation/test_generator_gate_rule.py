"""The generator gate's rule, without a store: FIDs are compared only when measured the same way."""

from types import SimpleNamespace

from training.evaluation.quality_gate import generator_verdict

FIGS = {"dataset": "digits", "extractor": "mnist_cnn", "resize_mode": "bicubic_aa", "n_real": 1797, "n_fake": 500}


def version(fid: float | None, **changes) -> SimpleNamespace:
    evaluations = {} if fid is None else {"digits/mnist_cnn": {**FIGS, **changes, "fid": fid}}
    return SimpleNamespace(ref="m:1", metrics={"evaluations": evaluations})


def test_lower_fid_measured_the_same_way_beats_the_previous_version():
    assert generator_verdict("if_better", {**FIGS, "fid": 3.0}, version(5.0)).promoted is True
    kept = generator_verdict("if_better", {**FIGS, "fid": 7.0}, version(5.0))
    assert kept.promoted is False and kept.reason.startswith("does not beat previous version: FID 7.000 vs m:1 5.000")
    assert generator_verdict("always", {**FIGS, "fid": 7.0}, version(5.0)).promoted is True


def test_figures_measured_otherwise_are_not_compared_but_measured_again():
    other = version(1.0, n_fake=2000)  # fewer samples inflate FID: not comparable
    assert "has no FID measured as this one was" in generator_verdict("if_better", {**FIGS, "fid": 3.0}, other).reason
    again = generator_verdict("if_better", {**FIGS, "fid": 3.0}, other, lambda previous: {**FIGS, "fid": 2.0})
    assert again.promoted is False


def test_nothing_to_compare_with_promotes_and_says_so():
    assert "first version" in generator_verdict("if_better", {**FIGS, "fid": 3.0}, None).reason
    assert generator_verdict("if_better", None, version(5.0)).promoted is True
