"""Who may do what, against a real stack: every route with no key, a key without the scope, another
owner's key and an admin key; the cache-hit leak, the cross-owner delete, the rate limit, the
training cap, and `make run` printing a key that the README's first curl works with."""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from archives import classes_files, zip_bytes
from conftest import make_stack, wait_for_status

from service.core import keys
from service.local.redis_server import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODEL = "mnist-cdcgan"
PUBLIC = {("GET", "/health"), ("GET", "/ready"), ("GET", "/v2/health/live"), ("GET", "/v2/health/ready")}
# The scope each route needs; None: any key (what it reaches is then limited to the caller's own).
SCOPE_OF_PREFIX = [
    ("/keys", "admin"), ("/datasets", "datasets"), ("/generate", "infer"), ("/translate", "infer"),
    ("/upscale", "infer"), ("/evaluate", "infer"), ("/v2", "infer"), ("/train", "train"),
]


@pytest.fixture(scope="module")
def auth_stack(tmp_path_factory):
    with make_stack(tmp_path_factory, "auth", GANFORGE_MAX_CONCURRENT_TRAININGS=1) as stack:
        stack.start_worker()
        stack.start_api()
        yield stack


@pytest.fixture(scope="module")
def admin(auth_stack):
    with auth_stack.client() as client:
        yield client


def new_key(admin, name: str, scopes: list[str], **extra) -> str:
    answer = admin.post("/keys", json={"name": name, "scopes": scopes, **extra})
    assert answer.status_code == 201, answer.text
    return answer.json()["key"]


@pytest.fixture(scope="module")
def owners(auth_stack, admin):
    """Alice and Bob: every scope but admin, different owners; Carol: no scope this walk needs."""
    everything = ["infer", "train", "datasets", "models:write"]
    clients = {
        "alice": auth_stack.client(new_key(admin, "alice", everything, rate="unlimited")),
        "bob": auth_stack.client(new_key(admin, "bob", everything, rate="unlimited")),
        "carol": auth_stack.client(new_key(admin, "carol", ["models:write"], rate="unlimited")),
    }
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="module")
def alices(owners, auth_stack):
    """Things that belong to Alice: a finished job, an uploaded dataset."""
    alice = owners["alice"]
    job = alice.post("/generate", json={"model": MODEL, "n": 1, "seed": 11,
                                        "webhook": "https://hooks.example.com/in?token=s3cret"},
                     headers={"Prefer": "wait=30"}).json()
    assert job["status"] == "succeeded" and job["owner"] == "alice"
    upload = alice.post("/datasets", files={"file": ("a.zip", zip_bytes(classes_files()), "application/zip")},
                        data={"layout": "classes"})
    assert upload.status_code == 201, upload.text
    return {"job": job, "dataset": upload.json()["id"]}


def scope_of(path: str) -> str | None:
    return next((scope for prefix, scope in SCOPE_OF_PREFIX if path.startswith(prefix)), None)


def every_route(client: httpx.Client) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


def concrete(path: str, alices: dict) -> str:
    return (path.replace("{job_id}", alices["job"]["id"]).replace("{name}", MODEL).replace("{version}", "1")
            .replace("{dataset_id}", alices["dataset"]).replace("{model_name}", MODEL))


def call(client: httpx.Client, method: str, path: str, headers: dict | None = None) -> httpx.Response:
    if path.endswith("/events"):  # a stream: the status line is all we need
        with client.stream(method, path, headers=headers) as response:
            return response
    return client.request(method, path, headers=headers)


def test_without_a_key_every_route_but_health_is_401_with_a_challenge(auth_stack, admin, alices):
    routes = every_route(admin)
    assert len(routes) > 15
    with httpx.Client(base_url=auth_stack.api_url, timeout=30) as anonymous:
        for method, path in routes:
            answer = call(anonymous, method, concrete(path, alices))
            if (method, path) in PUBLIC:
                assert answer.status_code in (200, 503), (method, path, answer.status_code)
                continue
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert answer.headers["content-type"].startswith("application/problem+json")
        wrong = call(anonymous, "GET", "/models", headers={"Authorization": "Bearer gfk_not-a-key"})
        assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]


def test_a_key_without_the_scope_is_403_on_every_scoped_route(owners, admin, alices):
    carol = owners["carol"]  # models:write only
    checked = 0
    for method, path in every_route(admin):
        scope = scope_of(path)
        if (method, path) in PUBLIC or scope is None:
            continue
        answer = call(carol, method, concrete(path, alices))
        assert answer.status_code == 403, (method, path, answer.status_code)
        assert "insufficient_scope" in answer.headers["www-authenticate"]
        checked += 1
    assert checked >= 10


def test_another_owner_gets_404_for_every_thing_of_alice(owners, alices):
    bob, job, dataset = owners["bob"], alices["job"], alices["dataset"]
    for method, path in [
        ("GET", f"/jobs/{job['id']}"), ("GET", job["outputs"][0]["url"]), ("POST", f"/jobs/{job['id']}/cancel"),
        ("GET", f"/jobs/{job['id']}/events"),
        ("GET", f"/datasets/{dataset}"), ("GET", f"/datasets/{dataset}/preview.png"), ("DELETE", f"/datasets/{dataset}"),
    ]:
        answer = call(bob, method, path)
        assert answer.status_code == 404, (method, path, answer.status_code)
    # what is someone else's reads the same as what is missing
    missing = "0" * 32
    assert bob.get(f"/jobs/{job['id']}").json()["detail"] == bob.get(f"/jobs/{missing}").json()["detail"].replace(
        missing, job["id"])
    assert dataset not in [d["id"] for d in bob.get("/datasets").json()["datasets"]]
    assert job["id"] not in [j["id"] for j in bob.get("/jobs").json()["jobs"]]
    trained = bob.post("/train", json={"architecture": "dcgan", "dataset": dataset, "model_name": "bobs", "steps": 2})
    assert trained.status_code == 404


def test_the_owner_and_an_admin_see_it_and_only_the_owner_sees_the_webhook_token(owners, admin, alices):
    job_id = alices["job"]["id"]
    own = owners["alice"].get(f"/jobs/{job_id}").json()
    assert own["webhook"]["url"] == "https://hooks.example.com/in?token=s3cret"
    seen_by_admin = admin.get(f"/jobs/{job_id}")
    assert seen_by_admin.status_code == 200 and "s3cret" not in seen_by_admin.text
    assert admin.get(f"/datasets/{alices['dataset']}").status_code == 200
    assert alices["dataset"] in [d["id"] for d in admin.get("/datasets").json()["datasets"]]


def test_regression_a_cache_hit_creates_the_callers_own_job_and_names_no_other(owners, alices):
    first = alices["job"]
    repeat = owners["bob"].post("/generate", json={"model": MODEL, "n": 1, "seed": 11}, headers={"Prefer": "wait=30"})
    job = repeat.json()
    assert job["cached"] is True and job["id"] != first["id"] and job["owner"] == "bob"
    assert first["id"] not in repeat.text and "cached_from" not in job["metrics"]
    assert owners["bob"].get(job["outputs"][0]["url"]).content == owners["alice"].get(first["outputs"][0]["url"]).content
    assert owners["bob"].get(f"/jobs/{first['id']}").status_code == 404
    # the owner's own repeat may name the owner's own job
    again = owners["alice"].post("/generate", json={"model": MODEL, "n": 1, "seed": 11}).json()
    assert again["cached"] and again["metrics"]["cached_from"] == first["id"]


def test_regression_another_owner_cannot_delete_a_dataset(owners, alices):
    dataset = alices["dataset"]
    assert owners["bob"].delete(f"/datasets/{dataset}").status_code == 404
    assert owners["alice"].get(f"/datasets/{dataset}").status_code == 200  # still there
    assert owners["bob"].post(f"/jobs/{alices['job']['id']}/cancel").status_code == 404


def test_idempotency_keys_are_per_owner(owners):
    body, key = {"model": MODEL, "n": 1}, "shared-idempotency-key"
    mine = owners["alice"].post("/generate", json=body, headers={"Idempotency-Key": key}).json()
    theirs = owners["bob"].post("/generate", json=body, headers={"Idempotency-Key": key}).json()
    assert mine["id"] != theirs["id"] and theirs["owner"] == "bob"


def test_another_owners_model_is_404_and_bundled_names_are_not_theirs_to_publish(auth_stack, owners, admin):
    auth_stack.redis.hset(keys.MODEL_OWNERS, "sr-x4", "alice")  # as if alice had uploaded it
    bob, alice = owners["bob"], owners["alice"]
    assert bob.get("/models/sr-x4").status_code == 404 and bob.get("/models/sr-x4/versions/1").status_code == 404
    assert "sr-x4" not in [m["name"] for m in bob.get("/models").json()["models"]]
    assert alice.get("/models/sr-x4").status_code == 200 and admin.get("/models/sr-x4").status_code == 200
    taken = bob.post("/train", json={"architecture": "dcgan", "dataset": "digits", "model_name": MODEL, "steps": 2})
    assert taken.status_code == 409 and taken.json()["type"].endswith("/model-name-taken")


def test_a_training_cap_per_key(auth_stack, admin):
    alice = auth_stack.client(new_key(admin, "alice-limited", ["train"], owner="alice"))  # a rate: a cap too
    first = alice.post("/train", json={"architecture": "dcgan", "dataset": "digits", "model_name": "alices-cap",
                                       "steps": 100000})
    assert first.status_code == 202, first.text
    second = alice.post("/train", json={"architecture": "dcgan", "dataset": "digits", "model_name": "alices-cap",
                                        "steps": 2})
    assert second.status_code == 429 and second.json()["type"].endswith("/training-quota")
    assert alice.post(f"/jobs/{first.json()['id']}/cancel").status_code == 202
    third = alice.post("/train", json={"architecture": "dcgan", "dataset": "digits", "model_name": "alices-cap",
                                       "steps": 2})
    assert third.status_code == 202
    wait_for_status(alice, third.json()["id"], {"succeeded", "failed"}, timeout_s=120)
    alice.close()


def test_rate_limit_answers_429_with_retry_after_and_recovers(auth_stack, admin):
    with auth_stack.client(new_key(admin, "slow", ["infer"], rate="3/2second")) as slow:
        answers = [slow.get("/models") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
        assert answers[0].headers["ratelimit-limit"] == "3"
        refused = slow.get("/models")
        assert refused.status_code == 429 and refused.json()["type"].endswith("/rate-limited")
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 2
        time.sleep(wait + 0.2)
        assert slow.get("/models").status_code == 200


def test_keys_are_listed_without_secrets_and_revoked(auth_stack, admin):
    key = new_key(admin, "temp", ["infer"])
    listing = admin.get("/keys")
    assert listing.status_code == 200 and key not in listing.text
    assert {"name": "temp", "owner": "temp", "scopes": ["infer"]}.items() <= next(
        k for k in listing.json()["keys"] if k["name"] == "temp").items()
    assert auth_stack.redis.get(keys.api_key(key)) is None  # stored by hash only
    assert admin.post("/keys", json={"name": "temp", "scopes": ["infer"]}).status_code == 409
    assert admin.post("/keys", json={"name": "x", "scopes": ["root"]}).status_code == 422
    assert admin.delete("/keys/temp").status_code == 204
    with auth_stack.client(key) as revoked:
        assert revoked.get("/models").status_code == 401


def test_ready_details_are_for_admins_only(auth_stack, admin, owners):
    assert "workers" in admin.get("/ready").json()
    assert owners["bob"].get("/ready").json() == {"status": "ready"}
    assert httpx.get(f"{auth_stack.api_url}/ready").json() == {"status": "ready"}


def test_openapi_declares_the_bearer_scheme(admin):
    spec = admin.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["ApiKey"] == {**spec["components"]["securitySchemes"]["ApiKey"],
                                                               "type": "http", "scheme": "bearer"}
    assert spec["paths"]["/generate"]["post"]["security"] == [{"ApiKey": []}]


def test_the_cli_creates_lists_and_revokes_keys(auth_stack):
    env = {**os.environ, "GANFORGE_REDIS_URL": auth_stack.redis_url}
    cli = [sys.executable, "-m", "service.core.api_keys"]
    created = subprocess.run([*cli, "create", "--name", "ci", "--scopes", "infer,train"], env=env, cwd=REPO,
                             capture_output=True, text=True, check=True)
    key = created.stdout.strip()
    with auth_stack.client(key) as ci:
        assert ci.get("/models").status_code == 200 and ci.get("/datasets").status_code == 403
    listed = subprocess.run([*cli, "list"], env=env, cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "ci\towner=ci\tscopes=infer,train" in listed and key not in listed
    subprocess.run([*cli, "revoke", "ci"], env=env, cwd=REPO, capture_output=True, check=True)
    with auth_stack.client(key) as ci:
        assert ci.get("/models").status_code == 401


def readme_first_example() -> str:
    """The README's first shell block, up to its first curl: how a fresh clone is told to call."""
    text = (REPO / "README.md").read_text()
    block = next(b for b in re.findall(r"```sh\n(.*?)```", text, re.DOTALL) if "curl" in b)
    lines = block.splitlines()
    first_curl = next(i for i, line in enumerate(lines) if line.startswith("curl"))
    return "\n".join(lines[: first_curl + 1])


def test_make_run_prints_a_key_and_the_readmes_first_curl_works(tmp_path):
    port = free_port()
    env = {**os.environ, "GANFORGE_STATE_DIR": str(tmp_path / ".state"), "GANFORGE_PORT": str(port),
           "GANFORGE_WORKER_CONCURRENCY": "2"}
    env.pop("GANFORGE_REDIS_URL", None)
    env.pop("GANFORGE_ADMIN_KEY", None)
    run = subprocess.Popen([sys.executable, "-m", "service.local"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    try:
        printed = ""
        deadline = time.monotonic() + 120
        while "try: curl" not in printed:
            assert time.monotonic() < deadline and run.poll() is None, printed
            printed += run.stdout.readline()
        key = re.search(r"admin key: (gfk_\S+)", printed).group(1)
        assert (tmp_path / ".state" / "admin-key").read_text().strip() == key
        example = readme_first_example().replace("localhost:8000", f"localhost:{port}")
        assert "Authorization: Bearer" in example
        answer = subprocess.run(["bash", "-c", example], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert json.loads(answer.stdout)["status"] == "succeeded", answer.stdout
        unauthenticated = example.replace('-H "Authorization: Bearer $KEY" ', "")
        answer = subprocess.run(["bash", "-c", unauthenticated], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert json.loads(answer.stdout)["status"] == 401
    finally:
        run.terminate()
        run.wait(timeout=60)


def test_beyond_loopback_without_keys_make_run_refuses_to_start(tmp_path):
    env = {**os.environ, "GANFORGE_STATE_DIR": str(tmp_path / "state"), "GANFORGE_HOST": "0.0.0.0",
           "GANFORGE_PORT": str(free_port())}
    env.pop("GANFORGE_REDIS_URL", None)
    env.pop("GANFORGE_ADMIN_KEY", None)
    done = subprocess.run([sys.executable, "-m", "service.local"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "refusing to serve on 0.0.0.0 without API keys" in done.stderr
    assert not (tmp_path / "state" / "admin-key").exists()
