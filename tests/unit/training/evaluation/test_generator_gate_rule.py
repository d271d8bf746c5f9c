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


def test_a_first_version_is_promoted_unmeasured_and_says_so():
    first = generator_verdict("if_better", {**FIGS, "fid": 3.0}, None)
    assert first.promoted is True and "first version" in first.reason and first.measured is False


def test_if_better_never_promotes_an_unmeasured_version_over_a_latest():
    unmeasured = generator_verdict("if_better", None, version(5.0), unmeasured_because="no extractor")
    assert unmeasured.promoted is False and unmeasured.measured is False
    assert "no FID (no extractor)" in unmeasured.reason and "`latest` stays on m:1" in unmeasured.reason
    # a baseline that cannot be measured the same way keeps latest too
    cannot = generator_verdict("if_better", {**FIGS, "fid": 3.0}, version(1.0, n_fake=2000), lambda previous: None)
    assert cannot.promoted is False and "has no FID measured as this one was" in cannot.reason
    assert generator_verdict("always", None, version(5.0)).promoted is True
