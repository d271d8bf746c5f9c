"""Slow and hostile clients are bounded: thousands of idle connections and a couple of hundred
clients sending their headers a byte at a time leave /health and /generate answering, then are
closed with 408 at the header deadline; one key's requests in flight are capped with 429.

Timings are printed for the issue's note, and asserted only generously (a shared 2-core machine)."""

import multiprocessing
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


def _hostile_clients(host: str, port: int, ready, measured, results) -> None:
    """IDLE connections that send nothing, SLOW_HEADERS that send a header byte every half second
    and never end it; once `measured`, how many of a sample of each were answered 408 and closed."""
    started = time.monotonic()
    idle = [socket.create_connection((host, port)) for _ in range(IDLE)]
    slow = [socket.create_connection((host, port)) for _ in range(SLOW_HEADERS)]
    for sock in slow:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    opened_s = time.monotonic() - started
    ready.set()
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(0.5):
            for sock in slow:
                try:
                    sock.sendall(b"a")
                except OSError:
                    pass  # cut: the point

    dripper = threading.Thread(target=drip)
    dripper.start()
    measured.wait(120)
    cut = {}
    for name, group in (("idle", idle[:50]), ("slow", slow[:50])):
        answers = []
        for sock in group:
            sock.settimeout(HEADER_TIMEOUT_S + 10)
            try:
                answers.append(sock.recv(4096))
            except OSError:
                answers.append(b"")
        cut[name] = sum(a.startswith(b"HTTP/1.1 408") and b"request-timeout" in a for a in answers)
    results.put({"opened_s": opened_s, "cut": cut, "cut_after_s": time.monotonic() - started})
    stop.set()
    dripper.join()
    for sock in idle + slow:
        sock.close()


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
        context = multiprocessing.get_context("fork")
        ready, measured, results = context.Event(), context.Event(), context.Queue()
        # The hostile clients live in a process of their own, so they do not share this one's GIL
        # with the client that measures.
        hostile = context.Process(target=_hostile_clients, args=(address.hostname, address.port, ready, measured,
                                                                   results))
        hostile.start()
        try:
            assert ready.wait(60), "the hostile clients did not connect"
            time.sleep(1)  # the API accepts the burst of connections; then, while they are held:
            started = time.monotonic()
            with stack.client() as client:
                health_loaded = _timed(client, 200, _health)
                generate_loaded = _timed(client, 50, _generate)
            measured_in_s = time.monotonic() - started
            measured.set()
            outcome = results.get(timeout=HEADER_TIMEOUT_S + 30)
        finally:
            measured.set()
            hostile.join(timeout=30)
        assert measured_in_s < HEADER_TIMEOUT_S - outcome["opened_s"] - 1, "measured after the deadline: no load left"
        opened_s, cut, cut_after_s = outcome["opened_s"], outcome["cut"], outcome["cut_after_s"]

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
