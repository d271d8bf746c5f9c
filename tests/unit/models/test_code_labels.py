"""Labels through an InfoGAN's category matched to classes (models/inference/codes.py), and the
matching itself (training/evaluation/code_classes.py), on made-up confusions."""

import numpy as np
import pytest

from models.inference.codes import (
    check_code_labels,
    code_matrix,
    labelled_code,
    values_for_labels,
)
from training.evaluation.code_classes import match

DRAWS = [0, 6, 2, 1, 7, 8, 4, 9, 5, 3]  # the bundled mnist-infogan's: value 3 draws ones
SPECS = [{"name": "category", "kind": "categorical", "size": 10, "classes": [str(d) for d in range(10)],
          "draws": DRAWS}, {"name": "width", "kind": "continuous", "range": [-2, 2]}]


def test_a_label_picks_the_value_that_draws_its_class():
    assert labelled_code(SPECS) is SPECS[0] and labelled_code(SPECS[1:]) is None
    np.testing.assert_array_equal(values_for_labels(SPECS[0], np.array([1, 3, 6])), [3, 9, 1])
    codes = code_matrix(SPECS, 3, seed=7, labels=np.array([1, 3, 6]))
    assert codes[:, :10].argmax(axis=1).tolist() == [3, 9, 1]
    # the continuous code is drawn from the seed as without labels
    np.testing.assert_array_equal(codes[:, 10], code_matrix(SPECS, 3, seed=7)[:, 10])
    # a category set by value wins over labels
    assert code_matrix(SPECS, 2, 7, {"category": 4}, np.array([1, 1]))[:, :10].argmax(axis=1).tolist() == [4, 4]


def test_labels_no_value_draws_are_refused_by_name():
    partial = [{**SPECS[0], "draws": [0, 0, 2, 1, 7, 8, 4, 9, 5, 3]}]  # no value draws a 6
    with pytest.raises(ValueError, match=r"draws class \[6\]"):
        values_for_labels(partial[0], np.array([6]))
    (error,) = check_code_labels(partial, [1, 6])
    assert error["field"] == "labels.1" and error["type"] == "out_of_range"
    assert check_code_labels(SPECS[1:], [1])[0]["type"] == "not_conditional"


def test_values_are_matched_to_classes_one_to_one_by_most_agreement():
    confusion = np.full((3, 3), 1)
    confusion[0, 2], confusion[1, 0], confusion[2, 1] = 50, 40, 30
    draws, agreement, per_value = match(confusion)
    assert draws == [2, 0, 1]
    assert agreement == pytest.approx(120 / confusion.sum()) and per_value[0] == pytest.approx(50 / 52)
