"""The API hands a burst's freed heap back once the burst is over (issue 27, item 11).

What grew in the API over an hour was glibc keeping freed memory in its per-thread arenas, not
Python objects (bench/REPORT.md, "API memory after bursts"): the fix is a malloc_trim after a
quiet spell (service/api/memory.py). These tests hold the mechanism, read from /metrics: a trim
follows each burst once the API is quiet, one per quiet spell, and none while nothing was served.
"""

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_stack

pytestmark = pytest.mark.integration

IDLE_S = 0.5


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """An API of its own (no worker: bad input and /metrics need none) that trims after 0.5 s quiet."""
    with make_stack(tmp_path_factory, "trim", GANFORGE_API_TRIM_IDLE_S=IDLE_S) as stack:
        stack.start_api()
        with stack.client() as client:
            yield client


def scrape(api) -> dict[str, float]:
    answer = api.get("/metrics")
    assert answer.status_code == 200
    return {sample.name: sample.value for family in text_string_to_metric_families(answer.text)
            for sample in family.samples if not sample.labels}


def trims_after_quiet(api, seconds: float) -> float:
    """The trim count once `seconds` went by without a request (the scrape itself is one)."""
    time.sleep(seconds)
    return scrape(api)["ganforge_api_memory_trims_total"]


def test_a_burst_is_followed_by_one_trim_once_quiet(api):
    before = trims_after_quiet(api, IDLE_S * 4)  # whatever came before, and this scrape's own trim, settle
    for seed in range(200):  # a burst of bad input: parsed, validated, answered 4xx
        assert api.post("/generate", json={"model": "mnist-cdcgan", "n": 0, "seed": seed}).status_code == 422
    time.sleep(IDLE_S * 4)
    figures = scrape(api)
    # One trim for the burst (the scrape before it, answered just ahead of it, is part of it):
    # one per quiet spell, not one per request, and not none.
    assert figures["ganforge_api_memory_trims_total"] == before + 1
    assert figures["process_resident_memory_bytes"] > 0  # beside it, what an operator watches


def test_no_trim_without_traffic_in_between(api):
    first = trims_after_quiet(api, IDLE_S * 4)
    second = trims_after_quiet(api, IDLE_S * 4)
    assert second == first + 1  # only the first scrape's quiet spell: the trim does not repeat while idle
