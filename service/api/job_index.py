"""Each owner's jobs, newest first, for GET /jobs: a sorted set per owner in Redis.

Members are `<created µs, 16 digits>:<job id>` at score 0, so the set is ordered by creation
time (lexicographically) with no ties, and a cursor is just the last member a page showed:
the next page starts strictly below it. Status changes over a job's life, so kind and status
are filtered when a page is read, not when the job is written. Members outlive nothing: an entry
older than the job TTL is trimmed on write, and one whose record expired is dropped on read.
"""

import base64
import binascii
from dataclasses import dataclass

import redis

from service.api.errors import invalid
from service.core import keys
from service.core.job_store import JobStore
from service.core.jobs import Job, JobStatus

ANONYMOUS = "anonymous"  # the owner of jobs made without an API key
MAX_SCAN = 1000  # members one page may look at before answering short (with a cursor to go on)


def owner_of(job: Job) -> str:
    return getattr(job, "owner", None) or ANONYMOUS


def _member(job: Job) -> str:
    return f"{int(job.created_at.timestamp() * 1_000_000):016d}:{job.id}"


def record(pipe: redis.client.Pipeline, job: Job, ttl_s: int) -> None:
    """Add a new job to its owner's list, on the pipeline that creates it (one round trip for
    both); entries past the job TTL go at the same time."""
    key = keys.jobs_of(owner_of(job))
    cutoff = f"{int((job.created_at.timestamp() - ttl_s) * 1_000_000):016d}"
    pipe.zadd(key, {_member(job): 0})
    pipe.zremrangebylex(key, "-", f"({cutoff}")
    pipe.expire(key, ttl_s)


def encode_cursor(member: str) -> str:
    return base64.urlsafe_b64encode(member.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        member = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, job_id = member.partition(":")
        if len(created) != 16 or not created.isdigit() or not job_id:
            raise ValueError(member)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("query.cursor", "not a cursor this service gave out; start again without one",
                      "invalid_cursor") from None
    return member


@dataclass
class Page:
    jobs: list[Job]
    next_cursor: str | None


def page(store: JobStore, owner: str, *, kind: str | None = None, status: JobStatus | None = None,
         limit: int = 20, cursor: str | None = None) -> Page:
    """Up to `limit` of the owner's jobs below `cursor`, newest first, that match kind and status."""
    client, key = store.redis, keys.jobs_of(owner)
    upper = f"({decode_cursor(cursor)}" if cursor else "+"
    found: list[Job] = []
    scanned = 0
    batch = max(limit * 2, 50)
    while scanned < MAX_SCAN:
        members = [m.decode() for m in client.zrevrangebylex(key, upper, "-", start=0, num=batch)]
        if not members:
            return Page(found, None)
        expired = []
        for member, job in zip(members, store.get_many([m.partition(":")[2] for m in members])):
            scanned += 1
            upper = f"({member}"
            if job is None:
                expired.append(member)
                continue
            if (kind is None or job.kind == kind) and (status is None or job.status == status):
                found.append(job)
                if len(found) == limit:
                    if expired:
                        client.zrem(key, *expired)
                    return Page(found, encode_cursor(member))
        if expired:
            client.zrem(key, *expired)
        if len(members) < batch:
            return Page(found, None)
    return Page(found, encode_cursor(upper[1:]))  # looked far enough: the client asks for more
