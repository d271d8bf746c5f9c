"""Which /generate parameters a model can honour: style parameters need a style-based model, a
walk in w needs one too, a walk is one image long, and codes need an InfoGAN that names them.
An InfoGAN whose categories were matched to classes at registration also takes `labels`,
mapped through that matching to its category (models/inference/codes.py). Anything else is a
422 naming the field."""

from models.inference.codes import check_code_labels, check_codes, labelled_code
from models.manifest import Manifest
from service.api.errors import validation_problem
from service.api.schemas.generate import GenerateRequest

STYLE_ONLY = ("truncation_psi", "style_mixing", "noise_mode")


def check_model_params(request: GenerateRequest, manifest: Manifest) -> None:
    style = manifest.signature.style
    errors = []
    if style is None:
        for name in STYLE_ONLY:
            if getattr(request, name) is not None:
                errors.append({"field": name, "type": "not_style_model",
                               "message": f"{manifest.ref} is not a style-based generator; omit {name}"})
    elif request.style_mixing is not None and request.style_mixing.crossover >= style.num_ws:
        errors.append({"field": "style_mixing.crossover", "type": "out_of_range",
                       "message": f"crossover must be below {style.num_ws}, the number of style inputs of {manifest.ref}"})
    walk = request.interpolate
    if walk is not None:
        if request.n != 1:
            errors.append({"field": "n", "type": "walk_needs_one", "message": "a walk starts at one image: use n = 1"})
        if walk.space == "w" and style is None:
            errors.append({"field": "interpolate.space", "type": "not_style_model",
                           "message": f"{manifest.ref} has no w space; walk in 'z'"})
        if request.style_mixing is not None:
            errors.append({"field": "style_mixing", "type": "conflict", "message": "a walk does not mix styles"})
    if request.codes is not None:
        if not manifest.signature.codes:
            errors.append({"field": "codes", "type": "no_codes", "message": f"{manifest.ref} has no controllable codes"})
        else:
            errors += check_codes(manifest.signature.codes, request.codes)
    if request.labels is not None and manifest.signature.num_classes == 0:
        errors += check_labels_for_codes(request, manifest)
    if errors:
        raise validation_problem(errors)


def labels_name_codes(manifest: Manifest) -> bool:
    """Whether an unconditional model takes labels through a category matched to classes."""
    return labelled_code(manifest.signature.codes) is not None


def check_labels_for_codes(request: GenerateRequest, manifest: Manifest) -> list[dict[str, str]]:
    if len(request.labels) not in (1, request.n):
        return [{"field": "labels", "type": "wrong_length",
                 "message": f"give one label for all images or exactly n={request.n}, not {len(request.labels)}"}]
    errors = check_code_labels(manifest.signature.codes, request.labels)
    spec = labelled_code(manifest.signature.codes)
    if spec is not None and spec["name"] in (request.codes or {}):
        errors.append({"field": f"codes.{spec['name']}", "type": "conflict",
                       "message": f"labels set {spec['name']} already; send one or the other"})
    return errors
