"""The bucket backend: `s3://bucket/prefix` on AWS S3 or any S3-compatible server (MinIO, Ceph
RGW, R2, GCS's XML API; moto's server in the tests).

Library: boto3. It is AWS's own maintained SDK, the one every S3-compatible server is tested
against, it reads the usual settings by itself (AWS_ENDPOINT_URL, AWS_REGION/AWS_DEFAULT_REGION,
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, instance and pod roles), and it exposes the
conditional writes publication needs (`IfNoneMatch="*"`, `IfMatch=etag` on PutObject) as plain
parameters; its transfer manager streams large model files in parts. obstore has the same
primitives but a younger API; s3fs hides the conditional headers behind a file-system view.

Conditional writes: AWS S3 has honoured `If-None-Match: *` and `If-Match` on PutObject since
2024, as do MinIO and moto's server (tests/unit/models/test_store_objects.py checks that the
second of two writers loses). A server that ignores them would silently let both writers win;
use such a server only with one writer, or not at all.
"""

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from models.artifacts import (
    ObjectMissing,
    PreconditionFailed,
    StoredObject,
    StoreUnavailable,
)

MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
LOST_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
# What a store that is down or overloaded answers (after boto3's own retries).
UNAVAILABLE_CODES = {"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout", "500", "502", "503", "504"}
# A bucket this host cannot use as configured: the operator's to mend (the URL, the credentials),
# and for a client as unavailable as a store that is down, not a fault of its request.
MISCONFIGURED_CODES = {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}


class S3ObjectStore:
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, client=None):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self.client = client or shared_client(endpoint_url)

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str | None = None) -> "S3ObjectStore":
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"not a bucket URL: {url!r} (want s3://bucket/prefix)")
        return cls(parsed.netloc, parsed.path, endpoint_url=endpoint_url)

    def get(self, key: str) -> StoredObject:
        with _answers(key):
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return StoredObject(answer["Body"].read(), answer["ETag"])

    def download(self, key: str, target: Path) -> None:
        with _answers(key):
            self.client.download_file(self.bucket, self._key(key), str(target))

    def put(self, key: str, data: bytes) -> str:
        with _answers(key):
            return self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)["ETag"]

    def upload(self, key: str, source: Path) -> None:
        with _answers(key):
            self.client.upload_file(str(source), self.bucket, self._key(key))

    def put_if_absent(self, key: str, data: bytes) -> str:
        with _answers(key):
            return self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")["ETag"]

    def put_if_match(self, key: str, data: bytes, etag: str) -> str:
        with _answers(key, gone_means_lost=True):  # If-Match on a deleted key: the write lost all the same
            return self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfMatch=etag)["ETag"]

    def list(self, prefix: str = "") -> dict[str, int]:
        found = {}
        strip = len(self.prefix) + 1 if self.prefix else 0
        with _answers(prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix))
            for page in pages:
                for item in page.get("Contents", []):
                    found[item["Key"][strip:]] = item["Size"]
        return found

    def delete(self, key: str) -> None:
        with _answers(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key


@functools.cache
def shared_client(endpoint_url: str | None):
    """One client per endpoint and process: making one costs tens of milliseconds (it loads the
    service model), and boto3's clients are safe to share between threads. Retries in "standard"
    mode back off on throttling and 5xx; timeouts keep a dead endpoint from holding a thread."""
    return boto3.client(
        "s3", endpoint_url=endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60),
    )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _answers(key: str, *, gone_means_lost: bool = False) -> Iterator[None]:
    """boto3's errors as the store's own: ObjectMissing, PreconditionFailed, StoreUnavailable."""
    try:
        yield
    except ClientError as error:
        code = _code(error)
        if code in MISSING_CODES:
            raise (PreconditionFailed(f"{key} is gone") if gone_means_lost else ObjectMissing(key)) from None
        if code in LOST_CODES:
            raise PreconditionFailed(f"{key}: {code}") from None
        if code in UNAVAILABLE_CODES:
            raise StoreUnavailable(f"the object store answered {code} for {key}") from None
        if code in MISCONFIGURED_CODES:
            raise StoreUnavailable(f"the object store refused {key} with {code}: check GANFORGE_ARTIFACTS_URL's "
                                   "bucket and this host's credentials") from None
        raise
    except BotoCoreError as error:  # no connection, a timeout: the store is away, not the key
        raise StoreUnavailable(f"the object store cannot be reached ({type(error).__name__})") from None
