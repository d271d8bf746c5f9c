"""Slow and hostile clients are bounded: thousands of idle connections and a couple of hundred
clients sending their headers a byte at a time leave /health and /generate answering, then are
closed with 408 at the header deadline; one key's requests in flight are capped with 429.

Timings are printed for the issue's note, and asserted only generously (a shared 2-core machine)."""

import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import make_stack

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-slow-client-tests"
IDLE = 5000
SLOW_HEADERS = 200
HEADER_TIMEOUT_S = 12
PER_KEY = 4


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


def _timed(client: httpx.Client, count: int, call) -> list[float]:
    """Seconds each of `count` sequential calls took; each must answer 200."""
    spent = []
    for _ in range(count):
        started = time.perf_counter()
        answer = call(client)
        spent.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.text
    return spent


def _health(client: httpx.Client) -> httpx.Response:
    return client.get("/health")


def _generate(client: httpx.Client) -> httpx.Response:
    return client.post("/generate", json={"model": "mnist-cdcgan", "n": 1}, headers={"Prefer": "wait=30"})


def test_idle_and_slow_header_clients_leave_the_api_answering_and_are_cut_at_the_deadline(tmp_path_factory):
    with make_stack(tmp_path_factory, "slow-clients", GANFORGE_ADMIN_KEY=ADMIN_KEY, GANFORGE_API_PROCESSES="1",
                    GANFORGE_API_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
                    GANFORGE_API_MAX_REQUESTS_PER_KEY=str(PER_KEY)) as stack:
        stack.start_api()

        # One key's requests in flight are capped: with no worker, each `Prefer: wait=3` waits 3 s.
        with ThreadPoolExecutor(PER_KEY * 2) as pool, stack.client() as client:
            statuses = sorted(pool.map(lambda _: client.post("/generate", json={"model": "mnist-cdcgan", "n": 1},
                                                             headers={"Prefer": "wait=3"}).status_code,
                                       range(PER_KEY * 2)))
        assert statuses == [202] * PER_KEY + [429] * PER_KEY, statuses
        with stack.client() as client:
            refused = [client.post("/generate", json={"model": "mnist-cdcgan", "n": 1}, headers={"Prefer": "wait=3"})
                       for _ in range(1)]
        assert refused[0].status_code == 202  # the cap let go of the finished ones

        stack.start_worker(queues="inference", concurrency=4)
        with stack.client() as client:
            _timed(client, 10, _generate)  # warm
            health_alone = _timed(client, 200, _health)
            generate_alone = _timed(client, 50, _generate)

        address = urlsplit(stack.api_url)
        started = time.monotonic()
        idle = [socket.create_connection((address.hostname, address.port)) for _ in range(IDLE)]
        slow = [socket.create_connection((address.hostname, address.port)) for _ in range(SLOW_HEADERS)]
        opened_s = time.monotonic() - started
        stop = threading.Event()

        def drip() -> None:  # a header byte every half second on every slow connection, never the end
            for sock in slow:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            while not stop.wait(0.5):
                for sock in slow:
                    try:
                        sock.sendall(b"a")
                    except OSError:
                        pass  # cut: the point

        dripper = threading.Thread(target=drip)
        dripper.start()
        try:
            with stack.client() as client:
                health_loaded = _timed(client, 200, _health)
                generate_loaded = _timed(client, 50, _generate)
            measured_in_s = time.monotonic() - started
            assert measured_in_s < HEADER_TIMEOUT_S, "measured after the deadline: the load was gone by then"

            # At the header deadline both kinds are answered 408 and closed.
            cut = {}
            for name, group in (("idle", idle[:50]), ("slow", slow[:50])):
                answers = []
                for sock in group:
                    sock.settimeout(HEADER_TIMEOUT_S + 10)
                    answers.append(sock.recv(4096))
                cut[name] = sum(a.startswith(b"HTTP/1.1 408") and b"request-timeout" in a for a in answers)
            cut_after_s = time.monotonic() - started
        finally:
            stop.set()
            dripper.join()
            for sock in idle + slow:
                sock.close()

        figures = {
            "opened": f"{IDLE} idle + {SLOW_HEADERS} slow-header connections in {opened_s:.1f} s",
            "health p50/p99 ms alone": f"{statistics.median(health_alone) * 1e3:.1f}/{_p99(health_alone) * 1e3:.1f}",
            "health p50/p99 ms loaded": f"{statistics.median(health_loaded) * 1e3:.1f}/{_p99(health_loaded) * 1e3:.1f}",
            "generate p50/p99 ms alone": f"{statistics.median(generate_alone) * 1e3:.1f}/{_p99(generate_alone) * 1e3:.1f}",
            "generate p50/p99 ms loaded":
                f"{statistics.median(generate_loaded) * 1e3:.1f}/{_p99(generate_loaded) * 1e3:.1f}",
            "cut with 408 after": f"{cut_after_s:.1f} s",
        }
        print("\n" + "\n".join(f"{k}: {v}" for k, v in figures.items()))
        assert cut == {"idle": 50, "slow": 50}, cut
        assert _p99(health_loaded) < 1.0, figures  # generous: the target is 100 ms on a machine of its own
        assert _p99(generate_loaded) < 5 * max(_p99(generate_alone), 0.05), figures
