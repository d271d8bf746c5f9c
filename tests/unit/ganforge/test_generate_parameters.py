"""The SDK and the CLI take every /generate parameter the API accepts, by the same names (issue
27, item 4: `truncation_psi`, `style_mixing`, `interpolate`, `codes` and `noise_mode` existed only
over raw HTTP). The names are read from the API's own OpenAPI schema, so the two cannot drift."""

import argparse
import inspect

import ganforge
import pytest
from ganforge._flows import generate_body
from ganforge.cli import build_parser

from service.api.app import create_app
from service.core.settings import Settings

SDK_ONLY = {"timeout", "idempotency_key"}  # how to call, not what to compute
CHOSEN_BY_THE_SDK = {"inline"}  # the SDK asks for inline images itself when there is more than one
CLI_ONLY = {"output"}


@pytest.fixture(scope="module")
def schemas() -> dict:
    return create_app(Settings()).openapi()["components"]["schemas"]


def api_fields(schemas: dict, name: str) -> set[str]:
    return set(schemas[name]["properties"])


def generate_command() -> argparse.ArgumentParser:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["generate"]


@pytest.mark.parametrize("client", [ganforge.Client, ganforge.AsyncClient])
def test_the_sdk_generate_takes_every_api_field_by_name(schemas, client):
    parameters = set(inspect.signature(client.generate).parameters) - {"self"}
    assert parameters - SDK_ONLY == api_fields(schemas, "GenerateRequest") - CHOSEN_BY_THE_SDK


def test_the_sdk_nested_parameters_match_the_api_objects(schemas):
    assert set(ganforge.StyleMixing.model_fields) == api_fields(schemas, "StyleMixing")
    assert set(ganforge.Interpolation.model_fields) == api_fields(schemas, "Interpolation")


def test_the_cli_generate_has_an_option_for_every_api_field(schemas):
    dests = {action.dest for action in generate_command()._actions} - {"help"}
    wanted = api_fields(schemas, "GenerateRequest") - CHOSEN_BY_THE_SDK
    assert wanted <= dests, f"the CLI lacks {sorted(wanted - dests)}"
    walk = api_fields(schemas, "Interpolation") - {"to_seed"}  # to_seed is --interpolate's own value
    assert walk <= dests, f"the CLI lacks {sorted(walk - dests)}"
    assert CLI_ONLY <= dests


def test_the_body_the_sdk_sends_validates_against_the_api_schema():
    from service.api.schemas.generate import GenerateRequest

    body = generate_body("fashion-stylegan2", 1, {
        "seed": 7, "labels": 3, "truncation_psi": 0.5, "style_mixing": ganforge.StyleMixing(seed=11, crossover=4),
        "noise_mode": "random", "interpolate": None, "codes": None, "format": "webp", "quality": 80, "grid": False,
        "webhook": None, "webhook_events": None, "truncation": None,
    })
    assert body == {"model": "fashion-stylegan2", "n": 1, "seed": 7, "labels": [3], "truncation_psi": 0.5,
                    "style_mixing": {"seed": 11, "crossover": 4}, "noise_mode": "random", "format": "webp",
                    "quality": 80}
    GenerateRequest.model_validate(body)
    walk = generate_body("mnist-infogan", 1, {"interpolate": ganforge.Interpolation(to_seed=3, space="z"),
                                              "codes": {"category": 3}})
    assert walk["interpolate"] == {"to_seed": 3, "space": "z"}
    GenerateRequest.model_validate(walk)
