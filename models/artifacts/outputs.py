"""Large outputs in the artifact store: written by the workers, read (or signed for) by the API,
deleted by the sweep, all through this one place. Large input images live here too: written by
the API when it accepts their job, read by the worker that runs it.

An object is named by its SHA-256 under the store's `outputs/` prefix
(Settings.outputs_store_url), so a second write of the same bytes is harmless, whether they were
a job's input or another's output. When each one expires is kept in Redis
(service/core/job_store/stored_outputs.py), not here.
"""

import functools
from collections.abc import Iterator
from pathlib import Path

from models.artifacts import ObjectMissing, ObjectStore, open_object_store

CHUNK_BYTES = 1 << 20
PRESIGN_MAX_S = 7 * 24 * 3600  # S3's bound on a presigned URL's life (SigV4)


class OutputStore:
    def __init__(self, objects: ObjectStore):
        self.objects = objects

    def put(self, sha256: str, data: bytes) -> None:
        self.objects.put(sha256, data)

    def get(self, sha256: str) -> bytes:
        """The object's bytes, whole (an input image the worker decodes); ObjectMissing if gone."""
        return self.objects.get(sha256).data

    def delete(self, sha256: str) -> None:
        self.objects.delete(sha256)

    def local_path(self, sha256: str) -> Path | None:
        """The object's file, when the store is a local folder (served as a file); ObjectMissing if gone."""
        root = getattr(self.objects, "root", None)
        if root is None:
            return None
        path = Path(root) / sha256
        if not path.is_file():
            raise ObjectMissing(sha256)
        return path

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The object's bytes in pieces (a bucket: streamed, never whole in memory); ObjectMissing if gone.
        The first request is made before the first piece is asked for, so a missing object is known at once."""
        client = getattr(self.objects, "client", None)
        if client is None:
            data = self.objects.get(sha256).data
            return iter([data])
        from models.artifacts.s3 import _answers

        with _answers(sha256):
            body = client.get_object(Bucket=self.objects.bucket, Key=self.objects._key(sha256))["Body"]
        return _closing_chunks(body)

    def presigned_url(self, sha256: str, expires_s: int) -> str | None:
        """A URL that reads the object for `expires_s` (bounded), when the store is a bucket; else None."""
        client = getattr(self.objects, "client", None)
        if client is None:
            return None
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": self.objects.bucket, "Key": self.objects._key(sha256)},
            ExpiresIn=max(1, min(int(expires_s), PRESIGN_MAX_S)),
        )


def _closing_chunks(body) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()


@functools.cache
def open_output_store(url: str, endpoint_url: str | None = None) -> OutputStore:
    """One per URL and process (a bucket's client is shared, a folder costs nothing)."""
    return OutputStore(open_object_store(url, endpoint_url=endpoint_url))
