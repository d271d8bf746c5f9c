"""Outputs and the result cache: content-addressed blobs with a TTL, and for a finished deterministic
request an entry, keyed by the request's digest, that points at its blobs."""

import json
import time
from typing import Any

import redis

from service.core import keys
from service.core.job_store.base import AsyncPart, SyncPart
from service.core.job_store.codec import (
    cache_blobs,
    cache_entry,
    output_entries,
    stage_blob,
    stage_outputs,
    stored_digests,
)
from service.core.job_store.stored_outputs import expiry_of, stage_expiry
from service.core.jobs import JobOutput


class JobOutputs(SyncPart):
    def put_blob(self, data: bytes, ttl_s: int | None = None) -> str:
        """Store bytes under their SHA-256 (an input image, say); answers the digest."""
        return stage_blob(self.redis, data, ttl_s or self.output_ttl_s)  # on the client itself: written now

    def put_outputs(self, job_id: str, items: list[tuple[str, bytes, str]], ttl_s: int | None = None) -> list[JobOutput]:
        """Store (name, bytes, content type) triples as blobs for `ttl_s` (default: the result
        cache's TTL); answers the job's output entries."""
        outputs = output_entries(job_id, items)
        pipe = self.redis.pipeline(transaction=False)
        self.stage_blobs(pipe, outputs, items, ttl_s)
        pipe.execute()
        return outputs

    def stage_blobs(self, pipe: redis.client.Pipeline, outputs: list[JobOutput], items: list[tuple[str, bytes, str]],
                    ttl_s: int | None = None) -> None:
        """The bytes of `output_entries(job_id, items)`, as writes on the caller's pipeline."""
        stage_outputs(pipe, outputs, items, ttl_s or self.output_ttl_s)

    def get_blob(self, sha256: str) -> bytes | None:
        return self.redis.get(keys.blob(sha256))


class ResultCache(SyncPart):
    def cache_put(self, digest: str, job_id: str, outputs: list[JobOutput], metrics: dict[str, Any], *,
                  owner: str | None = None, pipe: redis.client.Pipeline | None = None, ttl_s: int | None = None) -> None:
        """The entry lives as long as its blobs (`ttl_s`, default: the result cache's TTL)."""
        (pipe or self.redis).set(keys.result_cache(digest), cache_entry(job_id, outputs, metrics, owner),
                                 ex=ttl_s or self.output_ttl_s)

    def cache_get(self, digest: str) -> dict[str, Any] | None:
        """A cached answer whose blobs are all still there, or None."""
        raw = self.redis.get(keys.result_cache(digest))
        if raw is None:
            return None
        entry = json.loads(raw)
        blobs = cache_blobs(entry)
        if blobs and self.redis.exists(*blobs) != len(blobs):
            return None  # evicted under memory pressure: compute again
        return entry


class AsyncJobOutputs(AsyncPart):
    def stage_blob(self, pipe: Any, data: bytes, sha256: str | None = None) -> str:
        """`put_blob` on the caller's pipeline (with the record of the job that reads it);
        `sha256`: the bytes' digest, when the caller has it already."""
        return stage_blob(pipe, data, self.output_ttl_s, sha256)

    async def get_blob(self, sha256: str) -> bytes | None:
        return await self.redis.get(keys.blob(sha256))


class AsyncResultCache(AsyncPart):
    """The cache as the API reads it: the entry's GET rides the caller's first round trip
    (`stage_cache_get`), then `cache_check` makes sure its blobs are all still there."""

    @staticmethod
    def stage_cache_get(pipe: Any, digest: str) -> None:
        pipe.get(keys.result_cache(digest))

    @staticmethod
    def stage_keep(pipe: Any, digest: str, entry: dict[str, Any], ttl_s: int) -> None:
        """Keep a cached answer (its entry and blobs) for at least `ttl_s` from now: a hit whose
        client keeps its outputs for the result cache's TTL, on an answer made in one call and
        kept only briefly. Never shortens (EXPIRE GT)."""
        for key in [keys.result_cache(digest), *cache_blobs(entry)]:
            pipe.expire(key, ttl_s, gt=True)
        for sha256 in stored_digests(entry):
            stage_expiry(pipe, sha256, expiry_of(ttl_s))

    async def cache_check(self, entry: dict[str, Any], *, fetch: str | None = None) -> tuple[bool, bytes | None]:
        """Whether the blobs of `entry` (as `stage_cache_get` read it, JSON-decoded) are all still
        there; with `fetch` (an output's SHA-256), that blob's bytes too, in the same round trip."""
        blobs, stored = cache_blobs(entry), stored_digests(entry)
        if not blobs and not stored and fetch is None:
            return True, None
        pipe = self.redis.pipeline(transaction=False)
        if blobs:
            pipe.exists(*blobs)
        for sha256 in stored:
            pipe.zscore(keys.STORED_OUTPUTS, sha256)
        if fetch is not None:
            pipe.get(keys.blob(fetch))
        answers = await pipe.execute()
        if blobs and answers[0] != len(blobs):
            return False, None  # evicted under memory pressure: compute again
        expiries = answers[1 if blobs else 0:][:len(stored)]
        if any(when is None or when <= time.time() for when in expiries):
            return False, None  # in the artifact store, and expired there
        return True, answers[-1] if fetch is not None else None
