"""The bucket gone: the API answers 503 with Retry-After, never a 500. A real S3 server (moto's, a
process of its own) is stopped under a running stack."""

import time
import uuid

import httpx
import pytest

from service.local.stack import LocalStack
from tests.s3_server import start_s3

pytestmark = pytest.mark.integration


def test_the_api_answers_503_while_the_bucket_is_away(tmp_path, monkeypatch):
    (tmp_path / "s3").mkdir()
    server = start_s3(tmp_path / "s3")
    try:
        for name, value in server.env.items():
            monkeypatch.setenv(name, value)
        bucket = server.create_bucket(f"ganforge-{uuid.uuid4().hex[:12]}")
        with LocalStack(tmp_path / "stack", {"GANFORGE_ARTIFACTS_URL": f"s3://{bucket}/deploy",
                                             "GANFORGE_STATE_DIR": str(tmp_path / "api-host")}) as stack:
            stack.start_redis()
            stack.start_worker("inference", env={"GANFORGE_STATE_DIR": str(tmp_path / "worker-host")})
            stack.start_api()
            with httpx.Client(base_url=stack.api_url, headers=stack.auth_headers, timeout=60) as client:
                assert "mnist-cdcgan" in {m["name"] for m in client.get("/models").json()["models"]}
                server.stop()
                time.sleep(1.5)  # past the API's short manifest cache
                answer = client.get("/models")
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"].startswith("application/problem+json")
                assert answer.json()["type"].endswith("artifacts-unavailable")
                assert int(answer.headers["Retry-After"]) > 0
    finally:
        server.stop()
