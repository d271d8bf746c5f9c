"""The API hands a burst's freed heap back once the burst is over (issue 27, item 11).

What grew in the API over an hour was glibc keeping freed memory in its per-thread arenas, not
Python objects (bench/REPORT.md, "API memory after bursts"): the fix is a malloc_trim after a
quiet spell (service/api/memory.py). These tests hold the mechanism, read from /metrics: a trim
follows each burst once the API is quiet, one per quiet spell, and none for probes and scrapes;
and what the API keeps per request in flight (the event hub's tables, the coalescer's jobs) is
back to 0 after a burst of every kind of request, streams dropped mid-way included.
"""

import asyncio
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_stack

pytestmark = pytest.mark.integration

IDLE_S = 0.5


@pytest.fixture(scope="module")
def quiet_api(tmp_path_factory):
    """An API of its own (no worker: bad input and /metrics need none) that trims after 0.5 s quiet."""
    with make_stack(tmp_path_factory, "trim", GANFORGE_API_TRIM_IDLE_S=IDLE_S) as stack:
        stack.start_api()
        with stack.client() as client:
            yield client


def scrape(api, **labels: str) -> dict[str, float]:
    """The samples of /metrics with these labels (none: the unlabelled ones), by name."""
    answer = api.get("/metrics")
    assert answer.status_code == 200
    return {sample.name: sample.value for family in text_string_to_metric_families(answer.text)
            for sample in family.samples if sample.labels == labels}


def trims_after_quiet(api, seconds: float) -> float:
    """The trim count once `seconds` went by without a request (the scrape itself is one)."""
    time.sleep(seconds)
    return scrape(api)["ganforge_api_memory_trims_total"]


def test_a_burst_is_followed_by_one_trim_once_quiet(quiet_api):
    api = quiet_api
    before = trims_after_quiet(api, IDLE_S * 4)  # whatever came before, and this scrape's own trim, settle
    for seed in range(200):  # a burst of bad input: parsed, validated, answered 4xx
        assert api.post("/generate", json={"model": "mnist-cdcgan", "n": 0, "seed": seed}).status_code == 422
    time.sleep(IDLE_S * 4)
    figures = scrape(api)
    # One trim for the burst: one per quiet spell, not one per request, and not none.
    assert figures["ganforge_api_memory_trims_total"] == before + 1
    assert figures["process_resident_memory_bytes"] > 0  # beside it, what an operator watches


def test_probes_and_scrapes_are_not_traffic(quiet_api):
    """A readiness probe every few seconds must not keep the process from ever trimming, nor make
    it trim after every probe: only real requests count, and an idle process trims once."""
    api = quiet_api
    assert api.get("/generate").status_code == 405  # a request: the next quiet spell trims
    first = trims_after_quiet(api, IDLE_S * 4)
    for _ in range(3):
        assert api.get("/health").status_code == 200
        assert api.get("/ready").status_code in (200, 503)  # no worker here: not ready
        time.sleep(IDLE_S)
    assert trims_after_quiet(api, IDLE_S * 4) == first


def held(api) -> dict[str, float]:
    answer = api.get("/metrics")
    return {sample.labels["table"]: sample.value for family in text_string_to_metric_families(answer.text)
            if family.name == "ganforge_api_held" for sample in family.samples}


async def burst(stack, seed: int) -> None:
    """Every kind of request that leaves something in the API while it runs, 16 at a time."""
    async with httpx.AsyncClient(base_url=stack.api_url, headers=stack.auth_headers, timeout=60) as client:
        async def one_call(n: int) -> None:
            answer = await client.post("/generate", json={"model": "mnist-cdcgan", "n": 1, "seed": seed + n},
                                       headers={"Accept": "image/png"})
            assert answer.status_code == 200

        async def waited(n: int) -> None:
            answer = await client.post("/generate", json={"model": "mnist-cdcgan", "n": 1, "seed": seed + n},
                                       headers={"Prefer": "wait=30", "Idempotency-Key": f"held-{seed + n}"})
            assert answer.status_code == 200

        async def dropped_stream(n: int) -> None:  # a client gone after the stream's first bytes
            job = (await client.post("/generate", json={"model": "mnist-cdcgan", "n": 1, "seed": seed + n})).json()
            async with client.stream("GET", f"/jobs/{job['id']}/events") as stream:
                async for _ in stream.aiter_bytes():
                    break

        async def infer(n: int) -> None:
            body = {"inputs": [{"name": "z", "shape": [1, 64], "datatype": "FP32", "data": [n / 100] * 64},
                               {"name": "labels", "shape": [1], "datatype": "INT64", "data": [n % 10]}]}
            assert (await client.post("/v2/models/mnist-cdcgan/infer", json=body)).status_code == 200

        gate = asyncio.Semaphore(16)

        async def gated(call, n: int) -> None:
            async with gate:
                await call(n)

        await asyncio.gather(*(gated(call, n) for n in range(0, 120, 4)
                               for call, n in ((one_call, n), (waited, n + 1), (dropped_stream, n + 2), (infer, n + 3))))


def test_what_the_api_holds_per_request_is_back_to_zero_after_a_burst(stack, api):
    asyncio.run(burst(stack, int(time.time() * 1000) % 2**31))
    deadline = time.monotonic() + 15  # a dropped stream ends when the server sees the disconnect
    while (tables := held(api)) and any(tables.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert set(tables) >= {"event waiters", "jobs expected", "ends announced"}
    assert tables == dict.fromkeys(tables, 0.0)
