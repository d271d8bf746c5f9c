"""GET /jobs: the caller's own jobs, newest first, filtered by kind and status, in cursor pages."""

import secrets

import pytest

from service.core.api_keys import ApiKeyStore

pytestmark = pytest.mark.integration

TINY = {"base_features": 8, "batch_size": 32, "latent_dim": 16, "embed_dim": 4}


def client_of_new_owner(stack):
    """A key of an owner of its own, so the session's other tests' jobs are not in its list."""
    owner = f"lister-{secrets.token_hex(4)}"
    key, _ = ApiKeyStore(stack.redis).create(owner, ["infer", "train"], owner=owner, rate="unlimited")
    return stack.client(key)


@pytest.fixture(scope="module")
def mine(stack):
    """Four generate jobs and one training job (then canceled), made by one owner, oldest first."""
    with client_of_new_owner(stack) as client:
        made = [client.post("/generate", json={"model": "mnist-cdcgan", "n": 1}).json()["id"] for _ in range(4)]
        train = client.post("/train", json={"architecture": "cdcgan", "dataset": "digits", "model_name": "listed",
                                            "image_size": 8, "steps": 100_000, "hyperparameters": TINY}).json()
        assert client.post(f"/jobs/{train['id']}/cancel").status_code == 202
        yield client, [*made, train["id"]]


def test_the_list_is_the_callers_jobs_newest_first(mine):
    client, made = mine
    page = client.get("/jobs").json()
    assert [job["id"] for job in page["jobs"]] == made[::-1]
    assert page["next_cursor"] is None
    created = [job["created_at"] for job in page["jobs"]]
    assert created == sorted(created, reverse=True)


def test_filters_by_kind_and_by_status(mine):
    client, made = mine
    generated = client.get("/jobs", params={"kind": "generate"}).json()["jobs"]
    assert [job["id"] for job in generated] == made[:4][::-1]
    canceled = client.get("/jobs", params={"status": "canceled"}).json()["jobs"]
    assert [job["id"] for job in canceled] == [made[4]]
    assert client.get("/jobs", params={"kind": "upscale"}).json() == {"jobs": [], "next_cursor": None}


def test_pages_follow_the_cursor_without_gaps_or_repeats(mine):
    client, made = mine
    seen, cursor, pages = [], None, 0
    while True:
        answer = client.get("/jobs", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        body = answer.json()
        assert len(body["jobs"]) <= 2
        seen += [job["id"] for job in body["jobs"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            assert "Link" not in answer.headers
            break
        assert answer.headers["Link"] == f'</jobs?limit=2&cursor={cursor}>; rel="next"'
    assert seen == made[::-1] and pages == 3


def test_another_owner_sees_none_of_them(stack, mine):
    _, made = mine
    with client_of_new_owner(stack) as stranger:
        assert stranger.get("/jobs").json()["jobs"] == []
        assert stranger.get(f"/jobs/{made[0]}").status_code == 404


@pytest.mark.parametrize(("params", "field"), [
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"kind": "paint"}, "kind"),
    ({"status": "sleeping"}, "status"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
])
def test_bad_parameters_are_422_naming_the_field(mine, params, field):
    client, _ = mine
    answer = client.get("/jobs", params=params)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [f"query.{field}"]
