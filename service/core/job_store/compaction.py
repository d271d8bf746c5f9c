"""Packing finished records: a job's record is kept for the job TTL (7 days), and at a steady 300
jobs/s a week of ~1.4 KB hashes is what fills Redis (issue 24, item 3). A record is hot while its
job runs and for a moment after (the one-call answer, a client polling, webhooks); then it is only
read whole (GET /jobs/{id}, its events), never changed. So a reaper (workers/reaper.py) packs each
record `after_s` seconds past its end into one deflated field (codec.pack_fields), which every
reader in the store decodes (codec.decode_record, decode_history).

Which records are due: the end of a job adds its id to keys.PACKABLE with the time (scripts.py),
and a pass *claims* the due ids in one script (out of the set: two reapers never pack the same
record; one that dies mid-pass leaves its claims unpacked, larger but whole). A record is packed
only if it is as the pass read it: same number of fields, same length of each, same status.
"""

import time

import redis

from service.core import keys
from service.core.job_store.codec import PACKED_FIELD, UNPACKED_FIELDS, pack_fields

# KEYS[1]: the set of ended jobs. ARGV: the latest end time due, at most how many. Answers their ids.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
"""
# KEYS[1]: the record. ARGV: its status and number of fields as read, the packed value, then each
# packed field and its length as read. Answers 1 if packed, 0 if the record changed (or went) since.
_PACK = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end
if redis.call('HLEN', KEYS[1]) ~= tonumber(ARGV[2]) then return 0 end
local names = {}
for i = 4, #ARGV, 2 do
  if redis.call('HSTRLEN', KEYS[1], ARGV[i]) ~= tonumber(ARGV[i + 1]) then return 0 end
  names[#names + 1] = ARGV[i]
end
redis.call('HDEL', KEYS[1], unpack(names))
redis.call('HSET', KEYS[1], '""" + PACKED_FIELD + """', ARGV[3])
return 1
"""
BATCH = 500  # records read and packed per round trip


class RecordPacker:
    """Packs the records of jobs that ended over `after_s` seconds ago (a pass per reaper round)."""

    def __init__(self, client: redis.Redis, after_s: float):
        self.client, self.after_s = client, after_s
        self._claim = client.register_script(_CLAIM)
        self._pack = client.register_script(_PACK)

    def pass_once(self, *, limit: int = 50_000) -> int:
        """Packs what is due, up to `limit` records; answers how many were packed."""
        packed = 0
        while limit > 0:
            due = [job_id.decode() for job_id in self._claim(keys=[keys.PACKABLE],
                                                              args=[time.time() - self.after_s, min(BATCH, limit)])]
            if not due:
                break
            packed += self._pack_all(due)
            limit -= len(due)
        return packed

    def _pack_all(self, job_ids: list[str]) -> int:
        reads = self.client.pipeline(transaction=False)
        for job_id in job_ids:
            reads.hgetall(keys.job(job_id))
        writes = self.client.pipeline(transaction=False)
        for job_id, raw in zip(job_ids, reads.execute(), strict=True):
            if not raw or PACKED_FIELD.encode() in raw or b"status" not in raw:
                continue  # expired, deleted, or packed already
            kept = {name for name in raw if name.decode() in UNPACKED_FIELDS}
            folded = {name: value for name, value in raw.items() if name not in kept}
            lengths = [item for name, value in folded.items() for item in (name, len(value))]
            self._pack(keys=[keys.job(job_id)], args=[raw[b"status"], len(raw), pack_fields(folded), *lengths],
                       client=writes)
        return sum(writes.execute())
