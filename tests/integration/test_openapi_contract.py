"""The OpenAPI schema is the contract, and the API keeps it (issue 27, item 10): a bounded
schemathesis run with every check, against the live API with a key, finds no failure; and the
things that run found before are held here one by one (strict integers and booleans, the alias
pattern, the statuses of a body of the wrong kind).

The stack has an inference worker only: generation answers for real, while the training jobs
schemathesis queues wait (none runs on the test machine's two cores), and `Prefer: wait` is held
to 1 s so that waiting on them costs little.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import make_stack

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 20
# Statuses a schema-valid request may get. The schema states shapes, not what exists or what a
# model can do: an unknown version (404), a finished job (409), an image that is not one or a
# label past a model's classes (422), an expired output (410), a body over a cap (413); and on
# /v2, a request whose tensors do not fit the model is the protocol's 400.
SCHEMATHESIS_CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "410", "413", "422", "429"]

[[operations]]
include-path-regex = "^/v2/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "413", "422", "429"]
"""
# A job's event stream stays open while the job runs, and a queued training never ends here: its
# streams are tested by the SSE tests (test_job_lifecycle, test_sdk), not by reading one to a timeout.
EXCLUDED_PATHS = ["/jobs/{job_id}/events"]


@pytest.fixture(scope="module")
def contract_stack(tmp_path_factory):
    with make_stack(tmp_path_factory, "contract", GANFORGE_MAX_WAIT_S="1") as stack:
        stack.start_worker(queues="inference")
        stack.start_api()
        yield stack


@pytest.fixture
def client(contract_stack):
    with contract_stack.client() as client:
        yield client


def _schemathesis() -> list[str]:
    script = Path(sys.executable).with_name("schemathesis")
    return [str(script)] if script.exists() else [sys.executable, "-m", "schemathesis.cli"]


def test_schemathesis_finds_no_failure_with_every_check(contract_stack, tmp_path):
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    command = [
        *_schemathesis(), "--config-file", str(config), "--no-color", "run", f"{contract_stack.api_url}/openapi.json",
        "--header", f"Authorization: Bearer {contract_stack.admin_key}", "--checks", "all",
        "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "27", "--workers", "2", "--request-timeout", "30",
        "--report", "junit", "--report-dir", str(tmp_path / "report"),
        *(option for path in EXCLUDED_PATHS for option in ("--exclude-path", path)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    summary = done.stdout[done.stdout.find("SUMMARY"):] if "SUMMARY" in done.stdout else done.stdout[-3000:]
    assert done.returncode == 0, f"{summary}\n\n{done.stdout[:20000]}\n{done.stderr[-2000:]}"
    last = [line for line in done.stdout.splitlines() if line.startswith("=")][-1]
    assert "Tested:" in done.stdout and "failure" not in last and "error" not in last, last


def test_integers_and_booleans_are_strict(client):
    """`"seed": false` was seed 0 and `"n": "2"` two images: lax coercion hid client mistakes."""
    for body, field in (({"seed": False}, "seed"), ({"seed": 7, "n": "2"}, "n"), ({"seed": 7, "n": 1.0}, "n"),
                        ({"seed": 7, "grid": 1}, "grid"), ({"seed": 7, "truncation": True}, "truncation"),
                        ({"seed": 7, "labels": [True]}, "labels.0"), ({"seed": 7, "inline": "yes"}, "inline")):
        answer = client.post("/generate", json={"model": "mnist-cdcgan", **body})
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["errors"][0]["field"] == field
    answer = client.post("/train", json={"architecture": "dcgan", "dataset": "digits", "model_name": "x",
                                         "steps": True})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "steps"
    answer = client.put("/models/mnist-cdcgan/aliases/prod", json={"version": True})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "version"
    # An integer is still a fine float, and JSON bodies of /upscale are as strict as the others.
    assert client.post("/generate", json={"model": "mnist-cdcgan", "seed": 7, "truncation": 2}).status_code in (200, 202)
    image = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
    answer = client.post("/upscale", json={"model": "sr-x4", "image": image, "tile": False})
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "tile"


def test_the_schema_states_the_alias_pattern_the_api_enforces(client):
    operation = client.get("/openapi.json").json()["paths"]["/models/{name}/aliases/{alias}"]["put"]
    (alias,) = [p for p in operation["parameters"] if p["name"] == "alias"]
    assert alias["schema"]["pattern"] == "^[a-z][a-z0-9._-]{0,31}$"
    for bad in ("Prod", "1", "prod%0A"):
        answer = client.put(f"/models/mnist-cdcgan/aliases/{bad}", json={"version": 1})
        assert answer.status_code == 422, (bad, answer.text)


def test_every_json_body_documents_400_and_415_and_public_routes_need_no_key(client):
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if set(operation.get("requestBody", {}).get("content", {})) == {"application/json"}:
                assert {"400", "415"} <= set(operation["responses"]), (method, path)
    for path in ("/health", "/ready", "/v2/health/live", "/v2/health/ready"):
        assert {} in schema["paths"][path]["get"]["security"]
    assert "503" in schema["paths"]["/ready"]["get"]["responses"]
    assert json.dumps(schema["paths"]["/v2/health/live"]["get"]["responses"]["200"].get("content", {})) == "{}"
