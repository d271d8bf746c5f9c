"""InfoGAN's controllable codes as the generator's 'codes' input: each categorical code one-hot,
then each continuous code, in the order the manifest lists them (`signature.codes`).

A code the request does not set is drawn from the seed (a category uniformly, a continuous value
uniformly in [-1, 1], the range it was trained on), so a seed still names one image."""

import numpy as np


def code_width(specs: list[dict]) -> int:
    return sum(spec["size"] if spec["kind"] == "categorical" else 1 for spec in specs)


def code_matrix(specs: list[dict], n: int, seed: int, given: dict[str, float] | None = None) -> np.ndarray:
    """float32 [n, code_width(specs)]."""
    given = given or {}
    rng = np.random.default_rng([seed, 3])
    columns = []
    for spec in specs:
        if spec["kind"] == "categorical":
            drawn = rng.integers(0, spec["size"], n)
            index = np.full(n, int(given[spec["name"]])) if spec["name"] in given else drawn
            columns.append(np.eye(spec["size"], dtype=np.float32)[index])
        else:
            drawn = rng.uniform(-1.0, 1.0, n).astype(np.float32)
            value = np.full(n, given[spec["name"]], np.float32) if spec["name"] in given else drawn
            columns.append(value[:, None])
    return np.concatenate(columns, axis=1).astype(np.float32) if columns else np.zeros((n, 0), np.float32)


def check_codes(specs: list[dict], given: dict[str, float]) -> list[dict[str, str]]:
    """Validation errors ({field, message, type}) for codes a request sets."""
    known = {spec["name"]: spec for spec in specs}
    errors = []
    for name, value in given.items():
        spec = known.get(name)
        field = f"codes.{name}"
        if spec is None:
            names = ", ".join(known) or "none"
            errors.append({"field": field, "type": "unknown_code", "message": f"unknown code; this model has: {names}"})
        elif spec["kind"] == "categorical" and (value != int(value) or not 0 <= value < spec["size"]):
            errors.append({"field": field, "type": "out_of_range",
                           "message": f"a category of {name} is a whole number in 0..{spec['size'] - 1}"})
        elif spec["kind"] == "continuous":
            low, high = spec["range"]
            if not low <= value <= high:
                errors.append({"field": field, "type": "out_of_range", "message": f"{name} takes values in [{low}, {high}]"})
    return errors
