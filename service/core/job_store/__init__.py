"""Jobs, their events and their outputs in Redis, shared by the API and the workers.

The store is small parts by concern, each on one client:

| part | sync (workers, the API's threads) | async (the API's event loop) |
| --- | --- | --- |
| records: the job hash, status changes by compare-and-set | `JobRecords` | `AsyncJobRecords` |
| events: the job's stream, announced on the events channel | `JobEvents` | `AsyncJobEvents` |
| outputs: content-addressed blobs with a TTL | `JobOutputs` | `AsyncJobOutputs` |
| the result cache: a deterministic request's answer | `ResultCache` | `AsyncResultCache` |
| leases and queue bookkeeping (recovery) | `JobLeases`, `QueueBook` | — |

Both sides share the key layout (service/core/keys.py) and the encoding and staged writes
(codec.py); `JobStore` and `AsyncJobStore` put each side's parts together on one client.
"""

from service.core.job_store.batch import AtomicBatch, SyncAtomicBatch
from service.core.job_store.codec import cache_blobs, output_entries, utcnow
from service.core.job_store.events import MAX_BLOCK_MS, AsyncJobEvents, JobEvents
from service.core.job_store.leases import JobLeases, QueueBook
from service.core.job_store.outputs import (
    AsyncJobOutputs,
    AsyncResultCache,
    JobOutputs,
    ResultCache,
)
from service.core.job_store.records import AsyncJobRecords, JobRecords

__all__ = [
    "MAX_BLOCK_MS", "AsyncJobEvents", "AtomicBatch", "AsyncJobOutputs", "AsyncJobRecords", "AsyncJobStore", "AsyncResultCache",
    "JobEvents", "JobLeases", "JobOutputs", "JobRecords", "JobStore", "QueueBook", "ResultCache", "SyncAtomicBatch", "cache_blobs",
    "output_entries", "utcnow",
]


class JobStore(JobRecords, JobEvents, JobOutputs, ResultCache, JobLeases, QueueBook):
    """Every sync part on one client: what a worker holds (`JobStore(client, job_ttl_s=…, output_ttl_s=…)`)."""


class AsyncJobStore(AsyncJobRecords, AsyncJobEvents, AsyncJobOutputs, AsyncResultCache):
    """Every async part on the API's event-loop client."""
