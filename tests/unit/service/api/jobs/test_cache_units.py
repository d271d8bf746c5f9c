"""The result cache's key and the finished job a hit answers with."""

from service.api.caller import set_caller
from service.api.jobs.cache import cached_job, request_digest
from service.core.api_keys import ApiKey
from service.core.jobs import JobStatus, ModelRef

MODEL = ModelRef(name="m", version=1)
ENTRY = {"job_id": "old", "owner": "alice", "metrics": {"ms": 2.0},
         "outputs": [{"name": "0.png", "url": "/jobs/old/outputs/0.png", "content_type": "image/png", "size": 3,
                      "sha256": "ab" * 32}]}


def test_the_digest_is_the_request_not_its_spelling():
    assert request_digest("generate", MODEL, {"n": 1, "seed": 2}) == request_digest("generate", MODEL, {"seed": 2, "n": 1})
    assert request_digest("generate", MODEL, {"n": 1, "seed": 2}) != request_digest("generate", MODEL, {"n": 1, "seed": 3})
    assert request_digest("generate", MODEL, {"n": 1}) != request_digest("generate", ModelRef(name="m", version=2), {"n": 1})


def key(owner: str) -> ApiKey:
    return ApiKey(name=owner, owner=owner, scopes=("infer",))


def test_a_hit_is_the_callers_own_finished_job_naming_only_its_own_earlier_one():
    set_caller(key("alice"))
    own = cached_job("generate", MODEL, {"n": 1}, ENTRY, None)
    assert own.status == JobStatus.succeeded and own.cached and own.owner == "alice"
    assert own.outputs[0].url == f"/jobs/{own.id}/outputs/0.png" and own.id != "old"
    assert own.metrics == {"ms": 2.0, "cached_from": "old"}
    set_caller(key("bob"))
    other = cached_job("generate", MODEL, {"n": 1}, ENTRY, None)
    assert other.owner == "bob" and "cached_from" not in other.metrics  # never another owner's job
    set_caller(None)
