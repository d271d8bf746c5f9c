"""A translator's input profile and the warnings it gives (training/data/input_profile.py), on
drawn images: strokes of a known width on a dark ground."""

import numpy as np

from training.data.input_profile import image_statistics, profile, warnings_for


def strokes(width: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """A white cross of `width`-px strokes on black, placed by the seed."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size), np.float32)
    row, col = rng.integers(size // 4, size // 2, 2)
    image[row:row + width, 4:size - 4] = 1.0
    image[4:size - 4, col:col + width] = 1.0
    return image


def test_a_profile_records_domain_ink_and_stroke_width():
    training = np.stack([strokes(2, seed=s) for s in range(20)])[:, None] * 2 - 1  # [-1, 1] as trainers hold them
    expected = profile(training, "crosses", 32)
    assert expected["domain"] == "crosses" and expected["ink"] == "light on a dark background"
    assert 1.5 <= expected["stroke_px"] <= 2.5 and expected["n_images"] == 20
    assert image_statistics(strokes(4))["stroke_px"] > 3


def test_inputs_like_the_training_ones_pass_and_others_are_named():
    expected = profile(np.stack([strokes(2, seed=s) for s in range(20)])[:, None] * 2 - 1, "crosses", 32)
    assert warnings_for(strokes(2, seed=99), expected) == []
    (inverted, *_) = warnings_for(1 - strokes(2, seed=99), expected)
    assert "mean gray level" in inverted and "light on a dark background" in inverted
    bold = warnings_for(strokes(6, seed=99), expected)
    assert any("draw them thinner" in w for w in bold), bold
    faint = strokes(2, seed=99) * 0.3  # thin lines faded by a downscale
    assert any("ink as the network sees it" in w for w in warnings_for(faint, expected))
