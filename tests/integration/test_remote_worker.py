"""Past one machine: a second inference worker on "another host" (a network namespace of its own,
reaching Redis over a veth pair, sharing the artifact store's folder) takes its share of the jobs,
and SIGKILL of either worker loses none of them."""

import io
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from service.core import keys
from service.local.stack import LocalStack

pytestmark = pytest.mark.integration

ADMIN_KEY = "gfk_test-admin-key-for-remote-worker-tests"
HOST_IP, REMOTE_IP = "10.77.0.1", "10.77.0.2"
QUEUES = "inference,inference-heavy"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def netns():
    """A network namespace joined to this one by a veth pair: HOST_IP here, REMOTE_IP there."""
    name, veth = f"gf-remote-{os.getpid()}", f"gfr{os.getpid() % 100000}"
    try:
        ip("netns", "add", name)
    except (OSError, subprocess.CalledProcessError) as refused:
        pytest.skip(f"`ip netns add` is not permitted here: {getattr(refused, 'stderr', refused)}")
    try:
        ip("link", "add", f"{veth}h", "type", "veth", "peer", "name", f"{veth}n")
        ip("link", "set", f"{veth}n", "netns", name)
        ip("addr", "add", f"{HOST_IP}/24", "dev", f"{veth}h")
        ip("link", "set", f"{veth}h", "up")
        ip("netns", "exec", name, "ip", "addr", "add", f"{REMOTE_IP}/24", "dev", f"{veth}n")
        ip("netns", "exec", name, "ip", "link", "set", f"{veth}n", "up")
        ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:  # deleting the namespace takes its end of the pair; delete ours too in case it was never moved
        subprocess.run(["ip", "link", "del", f"{veth}h"], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


@pytest.fixture
def two_hosts(tmp_path_factory, netns):
    """Redis on loopback and the veth address, the API and a local worker here, a remote worker in
    the namespace, all with one state folder (the shared artifact store)."""
    stack = LocalStack(tmp_path_factory.mktemp("remote"), {
        "GANFORGE_WORKER_HEARTBEAT_S": "1", "GANFORGE_LEASE_TTL_S": "6", "GANFORGE_ADMIN_KEY": ADMIN_KEY,
    })
    with stack:
        stack.start_redis(bind=(HOST_IP,))
        remote_url = f"redis://{HOST_IP}:{stack.redis_server.port}/0"
        stack.start_worker(QUEUES, 2, name="local")
        stack.start_worker(QUEUES, 2, name="remote", wrap=("ip", "netns", "exec", netns), redis_url=remote_url)
        stack.start_api()
        stack.remote_url = remote_url
        yield stack


def worker_id(stack: LocalStack, name: str) -> str:
    pid = stack.children[name].pid
    return next(w["id"] for w in _live(stack) if w["pid"] == pid)


def _live(stack: LocalStack) -> list[dict]:
    from service.core.presence import live_workers

    return live_workers(stack.redis)


def slow_upscale(client, seed: int) -> str:
    """An upscale that takes a second or more on a small CPU: a job still running when we kill."""
    pixels = np.random.default_rng(seed).integers(0, 255, (448, 448, 3), dtype=np.uint8)
    image = io.BytesIO()
    Image.fromarray(pixels).save(image, "PNG")
    answer = client.post("/upscale", files={"image": ("x.png", image.getvalue(), "image/png")}, data={"model": "sr-x4"})
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def finish_all(client, ids: list[str], within_s: float) -> dict[str, dict]:
    deadline = time.monotonic() + within_s
    jobs: dict[str, dict] = {}
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        for job_id in list(pending):
            job = jobs[job_id] = client.get(f"/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "canceled"):
                pending.discard(job_id)
        time.sleep(0.3)
    assert not pending, f"not finished within {within_s:g} s: {[jobs[i]['status'] for i in pending]}"
    failed = {i: j["error"] for i, j in jobs.items() if j["status"] != "succeeded"}
    assert not failed, failed
    return jobs


def leases_held_by(stack: LocalStack, worker: str) -> list[str]:
    held = []
    for key in stack.redis.scan_iter(match=keys.lease("*")):
        owner = stack.redis.get(key)
        if owner and owner.decode().startswith(f"{worker}:"):
            held.append(key.decode().rsplit(":", 1)[1])
    return held


def test_the_remote_worker_reaches_redis_over_the_veth_only(two_hosts, netns):
    # The namespace has its own loopback: the stack's 127.0.0.1 address is not reachable from there,
    # so the remote worker's jobs really travel over the veth pair.
    port = two_hosts.redis_server.port
    probe = ["ip", "netns", "exec", netns, sys.executable, "-c",
             f"import socket; s = socket.socket(); s.settimeout(2); print(s.connect_ex(('127.0.0.1', {port})))"]
    assert subprocess.run(probe, capture_output=True, text=True, check=False).stdout.strip() != "0"
    clients = two_hosts.redis.client_list()
    assert any(c["addr"].startswith(f"{REMOTE_IP}:") for c in clients), "no connection from the namespace"


def test_both_workers_share_the_load(two_hosts):
    local, remote = worker_id(two_hosts, "local"), worker_id(two_hosts, "remote")
    with two_hosts.client() as client:
        ids = [client.post("/generate", json={"model": "mnist-cdcgan", "n": 8}).json()["id"] for _ in range(60)]
        ids += [slow_upscale(client, seed) for seed in range(4)]
        jobs = finish_all(client, ids, 120)
    ran_on = [job["metrics"]["worker"] for job in jobs.values()]
    assert set(ran_on) == {local, remote}, {w: ran_on.count(w) for w in set(ran_on)}
    # Outputs written by either worker are read through the one API: Redis holds them, the artifact
    # folder holds the model both loaded.
    some_remote = next(j for j in jobs.values() if j["metrics"]["worker"] == remote and j["kind"] == "generate")
    with two_hosts.client() as client:
        assert client.get(some_remote["outputs"][0]["url"]).status_code == 200


@pytest.mark.parametrize("doomed_name", ["remote", "local"])
def test_sigkill_of_either_worker_loses_no_job(two_hosts, doomed_name):
    survivor_name = "local" if doomed_name == "remote" else "remote"
    doomed, survivor = worker_id(two_hosts, doomed_name), worker_id(two_hosts, survivor_name)
    with two_hosts.client() as client:
        ids = [slow_upscale(client, seed) for seed in range(6)]
        ids += [client.post("/generate", json={"model": "mnist-cdcgan", "n": 8}).json()["id"] for _ in range(30)]
        deadline = time.monotonic() + 60
        while not (running := leases_held_by(two_hosts, doomed)):
            assert time.monotonic() < deadline, f"the {doomed_name} worker never took a job"
            time.sleep(0.02)
        two_hosts.children[doomed_name].process.send_signal(signal.SIGKILL)
        two_hosts.children[doomed_name].process.wait()
        killed_at = time.monotonic()
        ids += [client.post("/generate", json={"model": "mnist-cdcgan", "n": 8}).json()["id"] for _ in range(10)]
        jobs = finish_all(client, ids, 90)
        assert time.monotonic() - killed_at < 90
        # What the dead worker was running was run again, to the end, by the one still alive.
        for job_id in running:
            assert jobs[job_id]["metrics"]["worker"] == survivor, jobs[job_id]
            events = client.get(f"/jobs/{job_id}/events", timeout=10).text
            assert events.count('"status": "running"') == 2, events  # once by each worker, never at once
