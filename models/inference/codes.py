"""InfoGAN's controllable codes as the generator's 'codes' input: each categorical code one-hot,
then each continuous code, in the order the manifest lists them (`signature.codes`).

A code the request does not set is drawn from the seed (a category uniformly, a continuous value
uniformly in [-1, 1], the range it was trained on), so a seed still names one image.

InfoGAN learns its categories without labels: value k draws *some* class, not class k. Where
registration matched the values to the classes they draw (training/evaluation/code_classes.py),
the categorical code's entry says so: `classes` (class names), `draws` (per value, the index in
`classes` of what it draws) and `agreement`. Such a model takes class labels as a conditional
model does: label L picks the value that draws classes[L]."""

import numpy as np


def code_width(specs: list[dict]) -> int:
    return sum(spec["size"] if spec["kind"] == "categorical" else 1 for spec in specs)


def labelled_code(specs: list[dict]) -> dict | None:
    """The categorical code matched to classes at registration, if there is one."""
    return next((spec for spec in specs if spec["kind"] == "categorical" and spec.get("draws")), None)


def values_for_labels(spec: dict, labels: np.ndarray) -> np.ndarray:
    """The code values that draw these class labels (indices into spec["classes"])."""
    value_of = {label: value for value, label in enumerate(spec["draws"])}
    missing = sorted({int(label) for label in labels} - set(value_of))
    if missing:
        raise ValueError(f"no value of {spec['name']} draws class {missing}")
    return np.asarray([value_of[int(label)] for label in labels], dtype=np.int64)


def check_code_labels(specs: list[dict], labels: list[int]) -> list[dict[str, str]]:
    """Validation errors for labels sent to a model whose categories were matched to classes."""
    spec = labelled_code(specs)
    if spec is None:
        return [{"field": "labels", "type": "not_conditional",
                 "message": "this model's codes were not matched to classes; omit labels (set codes instead)"}]
    classes, drawn = spec["classes"], set(spec["draws"])
    errors = []
    for i, label in enumerate(labels):
        if label not in drawn:
            allowed = ", ".join(f"{index} ({classes[index]})" for index in sorted(drawn))
            errors.append({"field": f"labels.{i}", "type": "out_of_range",
                           "message": f"no value of {spec['name']} draws class {label}; labels drawn: {allowed}"})
    return errors


def code_matrix(specs: list[dict], n: int, seed: int, given: dict[str, float] | None = None,
                labels: np.ndarray | None = None) -> np.ndarray:
    """float32 [n, code_width(specs)]. `labels` (int [n]) set the category matched to classes
    (labelled_code), unless `given` sets it by value."""
    given = given or {}
    labelled = labelled_code(specs) if labels is not None else None
    rng = np.random.default_rng([seed, 3])
    columns = []
    for spec in specs:
        if spec["kind"] == "categorical":
            drawn = rng.integers(0, spec["size"], n)
            index = np.full(n, int(given[spec["name"]])) if spec["name"] in given else drawn
            if spec is labelled and spec["name"] not in given:
                index = values_for_labels(spec, labels)
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
