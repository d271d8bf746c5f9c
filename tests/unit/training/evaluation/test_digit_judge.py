"""The digit judge (the MNIST classifier behind class_accuracy, IS and the digit FID) sees every
digit dataset framed as MNIST is: a 20 x 20 digit in a 28 x 28 frame (issue 27, item 2)."""

import numpy as np

from models.inference.pixels import signed_to_unit
from training.data.builtin_datasets import builtin_datasets
from training.evaluation.extractor_choice import ExtractorChoice
from training.evaluation.metrics import build_extractor
from training.evaluation.metrics.extractors import MNIST_PADDING, digit_padding


def judged(name: str, size: int) -> tuple[float, object]:
    images, labels = builtin_datasets()[name].load(size, 1)
    real = signed_to_unit(images)
    judge = build_extractor(ExtractorChoice("mnist"), "cpu", real)
    return float((judge.logits(real).argmax(axis=1) == labels).mean()), judge


def test_scikit_learn_digits_are_read_right_once_framed_like_mnist():
    accuracy, judge = judged("digits", 8)  # the README's training example: cdcgan on digits at 8 px
    assert judge.padding == MNIST_PADDING and judge.resize_mode == "bicubic_aa_pad4"
    assert accuracy >= 0.85, accuracy  # 0.15 unpadded: every digit an "8"


def test_mnist_digits_already_sit_in_its_margin():
    accuracy, judge = judged("mnist-5k", 28)
    assert judge.padding == 0 and judge.resize_mode == "bicubic_aa"  # figures as before, comparable
    assert accuracy >= 0.97, accuracy


def test_the_frame_is_read_from_the_ink_near_the_border():
    frame = np.zeros((2, 1, 28, 28), np.float32)
    frame[:, :, 6:22, 10:18] = 1.0  # a digit inside MNIST's margin
    assert digit_padding(frame) == 0
    frame[:, :, 0:28, 10:18] = 1.0  # strokes to the edges
    assert digit_padding(frame) == MNIST_PADDING
    assert digit_padding(np.zeros((1, 1, 8, 8), np.float32)) == 0  # blank: nothing to frame
