"""POST /generate end to end: HTTP -> API process -> Redis -> Celery worker process -> ONNX Runtime."""

import io

import pytest
from conftest import wait_for_status
from PIL import Image

from service.core import keys

pytestmark = pytest.mark.integration

MODEL = "mnist-cdcgan"
PROBLEM = "application/problem+json"


def generate(api, body, wait=None):
    headers = {"Prefer": f"wait={wait}"} if wait else {}
    return api.post("/generate", json=body, headers=headers)


def fetch_images(api, job) -> list[bytes]:
    return [api.get(o["url"]).content for o in job["outputs"]]


def test_prefer_wait_answers_the_finished_job_with_pngs_of_the_requested_size(api):
    answer = generate(api, {"model": MODEL, "n": 16, "seed": 7, "labels": [3]}, wait=30)
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "succeeded" and job["kind"] == "generate" and job["cached"] is False
    assert job["model"]["name"] == MODEL and job["model"]["version"] >= 1
    assert job["params"]["seed"] == 7 and job["metrics"]["labels"] == [3] * 16
    assert answer.headers["location"] == f"/jobs/{job['id']}"
    assert len(job["outputs"]) == 16
    for output in job["outputs"]:
        response = api.get(output["url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert len(response.content) == output["size"]
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "PNG" and image.mode == "L" and image.size == (28, 28)


def test_without_prefer_the_job_is_accepted_and_moves_to_succeeded(api):
    answer = generate(api, {"model": MODEL, "n": 2})
    assert answer.status_code == 202
    job = answer.json()
    assert job["status"] == "queued"
    assert answer.headers["location"] == f"/jobs/{job['id']}"
    finished = wait_for_status(api, job["id"], {"succeeded", "failed"})
    assert finished["status"] == "succeeded", finished
    assert finished["started_at"] and finished["finished_at"] >= finished["started_at"]


def test_a_seeded_repeat_comes_from_the_cache_byte_identical(api):
    body = {"model": MODEL, "n": 4, "seed": 12345, "labels": [1, 2, 3, 4], "truncation": 2.0}
    first = generate(api, body, wait=30).json()
    assert first["status"] == "succeeded" and not first["cached"]
    repeat = generate(api, body)  # no Prefer: only a cache hit can be finished at once
    assert repeat.status_code == 200
    cached = repeat.json()
    assert cached["cached"] is True and cached["status"] == "succeeded"
    assert cached["id"] != first["id"] and cached["metrics"]["cached_from"] == first["id"]
    assert fetch_images(api, cached) == fetch_images(api, first)


def test_the_same_seed_with_other_params_is_not_a_cache_hit(api):
    base = {"model": MODEL, "n": 2, "seed": 99, "labels": [5]}
    generate(api, base, wait=30)
    other = generate(api, {**base, "labels": [6]}, wait=30).json()
    assert other["cached"] is False


def test_without_a_seed_one_is_drawn_reported_and_reproduces_the_images(api):
    drawn = generate(api, {"model": MODEL, "n": 3, "labels": [8]}, wait=30).json()
    seed = drawn["params"]["seed"]
    assert isinstance(seed, int)
    again = generate(api, {"model": MODEL, "n": 3, "labels": [8], "seed": seed}, wait=30).json()
    assert fetch_images(api, again) == fetch_images(api, drawn)


def test_version_and_alias_references_resolve(api):
    by_version = generate(api, {"model": f"{MODEL}:1", "n": 1, "seed": 1}, wait=30).json()
    by_alias = generate(api, {"model": f"{MODEL}:latest", "n": 1, "seed": 1}, wait=30).json()
    assert by_version["model"] == {"name": MODEL, "version": 1}
    assert by_alias["status"] == "succeeded"


@pytest.mark.parametrize(("fmt", "content_type", "pil_format"), [("jpeg", "image/jpeg", "JPEG"), ("webp", "image/webp", "WEBP")])
def test_other_formats(api, fmt, content_type, pil_format):
    job = generate(api, {"model": MODEL, "n": 1, "seed": 3, "format": fmt}, wait=30).json()
    output = job["outputs"][0]
    assert output["content_type"] == content_type and output["name"] == f"0.{fmt}"
    assert Image.open(io.BytesIO(api.get(output["url"]).content)).format == pil_format


def test_truncation_changes_the_images(api):
    body = {"model": MODEL, "n": 2, "seed": 4, "labels": [0]}
    plain = fetch_images(api, generate(api, body, wait=30).json())
    truncated = fetch_images(api, generate(api, {**body, "truncation": 0.5}, wait=30).json())
    assert plain != truncated


# -- client mistakes: a clear 4xx as problem+json, never a 500 -------------------------------------


def assert_problem(answer, status: int, field: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["status"] == status and problem["type"].startswith("https://") and problem["detail"]
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
    return problem


def test_unknown_model_is_404(api):
    problem = assert_problem(generate(api, {"model": "no-such-gan"}), 404)
    assert "no-such-gan" in problem["detail"]
    assert_problem(generate(api, {"model": f"{MODEL}:999"}), 404)


@pytest.mark.parametrize("n", [0, 65, 10000, -1])
def test_absurd_n_is_422_naming_n(api, n):
    assert_problem(generate(api, {"model": MODEL, "n": n}), 422, field="n")


def test_label_outside_the_classes_is_422_naming_the_range(api):
    problem = assert_problem(generate(api, {"model": MODEL, "n": 2, "labels": [3, 10]}), 422, field="labels.1")
    assert "0..9" in problem["detail"]


def test_labels_must_be_one_or_n(api):
    assert_problem(generate(api, {"model": MODEL, "n": 3, "labels": [1, 2]}), 422, field="labels")


def test_malformed_json_is_422(api):
    answer = api.post("/generate", content=b'{"model": "mnist-cdcgan", "n": ', headers={"content-type": "application/json"})
    problem = assert_problem(answer, 422, field="body")
    assert "malformed JSON" in problem["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": MODEL, "seed": -5}, "seed"),
        ({"model": MODEL, "truncation": 0}, "truncation"),
        ({"model": MODEL, "format": "gif"}, "format"),
        ({"model": MODEL, "steps": 3}, "steps"),
        ({"n": 1}, "model"),
    ],
)
def test_other_bad_fields_are_422_naming_the_field(api, body, field):
    assert_problem(generate(api, body), 422, field=field)


def test_unknown_job_and_output_are_404(api):
    assert_problem(api.get("/jobs/nope"), 404)
    job = generate(api, {"model": MODEL, "n": 1, "seed": 5}, wait=30).json()
    assert_problem(api.get(f"/jobs/{job['id']}/outputs/7.png"), 404)


def test_an_expired_output_is_410(api, stack):
    job = generate(api, {"model": MODEL, "n": 1, "seed": 2024}, wait=30).json()
    stack.redis.delete(keys.blob(job["outputs"][0]["sha256"]))  # what the TTL or eviction does
    assert_problem(api.get(job["outputs"][0]["url"]), 410)
    # and a repeat is computed again rather than answered with the missing blob
    again = generate(api, {"model": MODEL, "n": 1, "seed": 2024}, wait=30).json()
    assert again["cached"] is False and api.get(again["outputs"][0]["url"]).status_code == 200


def test_cancelling_a_finished_job_is_409(api):
    job = generate(api, {"model": MODEL, "n": 1}, wait=30).json()
    assert_problem(api.post(f"/jobs/{job['id']}/cancel"), 409)
    assert_problem(api.post("/jobs/nope/cancel"), 404)


def test_models_are_listed_with_their_manifests(api):
    listing = api.get("/models").json()["models"]
    mnist = next(m for m in listing if m["name"] == MODEL)
    assert mnist["aliases"]["latest"] in mnist["versions"]
    signature = mnist["latest"]["signature"]
    assert signature["num_classes"] == 10 and signature["class_names"][3] == "3"
    assert signature["image_size"] == 28 and signature["channels"] == 1
    assert mnist["latest"]["provenance"]["dataset"] == "mnist-5k"
    assert api.get(f"/models/{MODEL}").json()["name"] == MODEL
    assert api.get(f"/models/{MODEL}/versions/1").json()["version"] == 1
    assert_problem(api.get("/models/no-such-gan"), 404)


def test_health_and_ready(api):
    assert api.get("/health").json() == {"status": "ok"}
    ready = api.get("/ready")
    assert ready.status_code == 200
    assert any("inference" in w["queues"] for w in ready.json()["workers"])


def test_openapi_documents_every_field_with_an_example(api):
    schema = api.get("/openapi.json").json()
    undocumented = [
        f"{name}.{field}"
        for name, component in schema["components"]["schemas"].items()
        for field, prop in component.get("properties", {}).items()
        if not (prop.get("description") and ("examples" in prop or "example" in prop))
    ]
    assert undocumented == []
    assert "202" in schema["paths"]["/generate"]["post"]["responses"]
