"""What a translator's inputs looked like in training, and whether a new input looks like them.

A translator answers whatever it is given: a photo sent to `edges2digits-pix2pix` comes back a
black square or an invented "7", and 1-px edges drawn at 96 px, which the network sees as a
stroke a third as wide as the ones it learned, fade to smudges. So each direction of a
translator records a profile of its training inputs in its manifest (metrics.input_profile):
the domain, the value range, the mean and spread of each image's grayscale histogram (how
bright the picture is, and how much it varies), which side the ink is on and, for line drawings,
the stroke width at the trained size. /translate compares its input with that profile, as the
network sees it (after any resize), and answers `warnings` when it is far off: a cheap check of
a few statistics, not a judgement of the content.
"""

from typing import Any

import numpy as np

VALUE_RANGE = "8-bit images (0-255), mapped to [-1, 1] for the network"
LINE_DRAWING_INK = 0.3  # most of a line drawing is background: stroke width means something below this ink share
MEAN_TOLERANCE = 0.05  # gray levels: how far an input's statistics may stray beyond 4 training spreads
STROKE_RATIO = 2.0  # a stroke this many times thinner or thicker than the trained median is far off
INK_RATIO = 3.0  # a line drawing with this many times less (or more) ink than in training is far off
MOST_PIXELS_FOR_STROKES = 1024 * 1024  # skeletonising costs; larger inputs skip the stroke check


def image_statistics(gray: np.ndarray, light_ink: bool | None = None) -> dict[str, float]:
    """One grayscale image in [0, 1] (H x W): its mean, spread (std), ink share and stroke width
    (px; ink area over skeleton length), with ink the side `light_ink` names (default: the
    minority side of 0.5)."""
    gray = np.asarray(gray, dtype=np.float32)
    if light_ink is None:
        light_ink = float((gray > 0.5).mean()) <= 0.5
    ink = gray > 0.5 if light_ink else gray < 0.5
    figures = {"mean": float(gray.mean()), "spread": float(gray.std()), "ink": float(ink.mean())}
    if ink.any() and gray.size <= MOST_PIXELS_FOR_STROKES:
        from skimage.morphology import skeletonize

        figures["stroke_px"] = float(ink.sum() / max(1, skeletonize(ink).sum()))
    return figures


def profile(images: np.ndarray, domain: str, image_size: int) -> dict[str, Any]:
    """The profile of training inputs, float [N, C, H, W] in [-1, 1] at the trained size."""
    gray = (np.asarray(images, dtype=np.float32).mean(axis=1) + 1) / 2
    light_ink = float((gray > 0.5).mean()) <= 0.5
    stats = [image_statistics(g, light_ink) for g in gray]
    means = np.array([s["mean"] for s in stats])
    spreads = np.array([s["spread"] for s in stats])
    ink = float(np.mean([s["ink"] for s in stats]))
    result: dict[str, Any] = {
        "domain": domain,
        "value_range": VALUE_RANGE,
        "image_size": image_size,
        "ink": "light on a dark background" if light_ink else "dark on a light background",
        "gray_mean": _rounded(means.mean()), "gray_mean_std": _rounded(means.std()),
        "gray_spread": _rounded(spreads.mean()), "gray_spread_std": _rounded(spreads.std()),
        "ink_share": _rounded(ink), "n_images": len(stats),
    }
    strokes = [s["stroke_px"] for s in stats if "stroke_px" in s]
    if ink < LINE_DRAWING_INK and strokes:
        result["stroke_px"] = _rounded(np.median(strokes))  # at image_size
    return result


def warnings_for(gray: np.ndarray, expected: dict[str, Any]) -> list[str]:
    """Why an input (grayscale in [0, 1], as the network sees it) is far from the training inputs."""
    light_ink = expected["ink"].startswith("light")
    seen = image_statistics(gray, light_ink)
    domain = expected["domain"]
    warnings = []
    for name, label in (("mean", "mean gray level"), ("spread", "gray spread")):
        centre, spread = expected[f"gray_{name}"], expected[f"gray_{name}_std"]
        if abs(seen[name] - centre) > 4 * spread + MEAN_TOLERANCE:
            warnings.append(f"the input's {label} {seen[name]:.2f} is far from the training inputs' {centre:.2f} "
                            f"± {spread:.2f}: this model expects {domain}, {expected['ink']}")
    trained_ink = expected["ink_share"]
    if "stroke_px" in expected and not trained_ink / INK_RATIO <= seen["ink"] <= trained_ink * INK_RATIO:
        warnings.append(f"{seen['ink']:.1%} of the picture is ink as the network sees it, against {trained_ink:.1%} in "
                        f"training: lines drawn thin on a large picture fade when it is scaled to "
                        f"{expected['image_size']} px; draw them thicker or the picture smaller")
    trained_stroke = expected.get("stroke_px")
    stroke = seen.get("stroke_px")
    if trained_stroke and stroke and not trained_stroke / STROKE_RATIO <= stroke <= trained_stroke * STROKE_RATIO:
        warnings.append(f"strokes are about {stroke:.1f} px wide as the network sees them; it was trained on "
                        f"{trained_stroke:.1f} px at {expected['image_size']} px: draw them "
                        f"{'thicker' if stroke < trained_stroke else 'thinner'}, or send the picture at "
                        f"{expected['image_size']} px")
    return warnings


def _rounded(value: float) -> float:
    return round(float(value), 4)


def input_profiles(domain_a: np.ndarray, domain_b: np.ndarray, directions, domains: dict[str, str] | None,
                   image_size: int, dataset: str) -> dict[str, dict[str, Any]]:
    """metrics.input_profile of a translator: per direction, the profile of the images it takes
    (A for a2b, B for b2a), float [N, C, H, W] in [-1, 1] at the trained size."""
    domains = domains or {}
    inputs = {"a2b": (domain_a, domains.get("A") or f"the A images of {dataset}"),
              "b2a": (domain_b, domains.get("B") or f"the B images of {dataset}")}
    return {direction: profile(*inputs[direction], image_size) for direction in directions}
