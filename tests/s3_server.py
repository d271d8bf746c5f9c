"""A real S3-compatible server for the tests: moto's standalone server as a process of its own,
on a free port, as Redis is started (service/local/redis_server.py). Its answers come over HTTP
through boto3 exactly as AWS's would; nothing is patched in the test process.

It listens on loopback, or on the one address it is given: a bridge's, for hosts in network
namespaces of their own (tests/integration/test_three_hosts.py)."""

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from service.local.processes import stop_process
from service.local.redis_server import free_port

# moto accepts any credentials; boto3 still wants some, and a region.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


LOOPBACK = "127.0.0.1"


@dataclass
class LocalS3:
    process: subprocess.Popen
    port: int
    address: str = LOOPBACK  # the one it listens on

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.address}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach this server: the endpoint and credentials."""
        return {**CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint_url}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        stop_process(self.process)


def start_s3(log_dir: Path, wait_s: float = 30, *, address: str = LOOPBACK) -> LocalS3:
    """moto's server on a free port of `address`, once it answers."""
    port = free_port()
    log = (log_dir / "moto.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", address, "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    log.close()  # the child holds its own descriptor
    server = LocalS3(process, port, address)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            httpx.get(f"{server.endpoint_url}/moto-api/", timeout=1)
            return server
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"moto's S3 server did not start: see {log_dir / 'moto.log'}") from None
            time.sleep(0.1)
