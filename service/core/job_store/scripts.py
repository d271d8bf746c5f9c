"""The store's Lua scripts, and how a status change calls them (the same arguments from either side).

A status change is a compare-and-set in one script: the API cancelling and a worker starting the
same job can't both win.
"""

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from service.core import keys
from service.core.job_store.codec import (
    EVENTS_MAXLEN,
    FOLD_MAX_EVENTS,
    HISTORY_FIELD,
    STREAM_KEPT_KINDS,
    encode_fields,
)
from service.core.jobs import JobStatus

# KEYS: job hash, event stream, set of running jobs, the events channel (told the job id and its
# new status, so a waiter for the end sleeps through the rest, and with an end the whole record as
# a JSON object of the hash's fields, so the waiter need not read it back), the index of queued jobs (a job
# that leaves `queued` leaves it), how the job was queued (deleted at its end: only the reaper reads
# it, to send a queued or running job again), the index of records to pack (compaction.py).
# ARGV: allowed current statuses (comma separated JSON strings), stream length, what to do with
# the running set on success ('add', 'remove', or 'keep'; 'remove' happens even when the move is refused, since the caller is done
# with the job either way), '1' to answer the whole record, the job id, then field/value pairs
# to write, "status" first (so ARGV[7] is the new status, announced without reading it back),
# up to ARGV[last] (each script using this body sets `last` first).
# Answers {status found, record...}; the write happened only if that status was allowed.
# At its end, a job of a kind not in STREAM_KEPT_KINDS with at most FOLD_MAX_EVENTS events has
# them folded into its record's history field ([[id, event, data], ...], the same ids and data a
# reader of the stream saw) and its stream deleted: Redis keeps ~150 bytes of history per finished
# job instead of a ~4.7 KB stream (codec.py says why).
_MOVE = """local kept_kinds = {""" + ", ".join(f"[{json.dumps(json.dumps(kind))}] = true" for kind in STREAM_KEPT_KINDS) + """}
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return {false} end
if ARGV[3] == 'remove' then redis.call('SREM', KEYS[3], ARGV[5]) end
local allowed = false
for status in string.gmatch(ARGV[1], '[^,]+') do
  if status == current then allowed = true end
end
if allowed then
  local fields = {}
  for i = 6, last do fields[#fields + 1] = ARGV[i] end
  redis.call('HSET', KEYS[1], unpack(fields))
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'event', 'status', 'data', ARGV[7])
  local note = ARGV[5] .. ' ' .. ARGV[7]
  local ended = ARGV[7] == '"succeeded"' or ARGV[7] == '"failed"' or ARGV[7] == '"canceled"'
  if ended then
    local all = redis.call('HGETALL', KEYS[1])
    local record = {}
    for i = 1, #all, 2 do record[all[i]] = all[i + 1] end
    note = note .. ' ' .. cjson.encode(record)
  end
  redis.call('PUBLISH', KEYS[4], note)
  if ended and not kept_kinds[redis.call('HGET', KEYS[1], 'kind')] and redis.call('XLEN', KEYS[2]) <= """ + str(FOLD_MAX_EVENTS) + """ then
    local folded = {}
    for _, entry in ipairs(redis.call('XRANGE', KEYS[2], '-', '+')) do
      local fields = {}
      for i = 1, #entry[2], 2 do fields[entry[2][i]] = entry[2][i + 1] end
      folded[#folded + 1] = '[' .. cjson.encode(entry[1]) .. ',' .. cjson.encode(fields.event) .. ',' .. fields.data .. ']'
    end
    redis.call('HSET', KEYS[1], '""" + HISTORY_FIELD + """', '[' .. table.concat(folded, ',') .. ']')
    redis.call('DEL', KEYS[2])
    redis.call('ZADD', KEYS[7], redis.call('TIME')[1], ARGV[5])
  end
  if ended then redis.call('DEL', KEYS[6]) end
  if current == '"queued"' then redis.call('ZREM', KEYS[5], ARGV[5]) end
  if ARGV[3] == 'add' then
    redis.call('SADD', KEYS[3], ARGV[5])
    redis.call('HINCRBY', KEYS[1], 'deliveries', 1)  -- one more start: the reaper counts lost runs by it
  end
end
if ARGV[4] == '1' then return {current, redis.call('HGETALL', KEYS[1])} end
return {current}
"""
TRANSITION = "local last = #ARGV\n" + _MOVE
# A worker taking a job: its lease (KEYS[8]) for the owner and TTL that end ARGV, kept if the owner
# holds it already (a retried round trip), then the transition. {false, 'leased'}: someone else's.
TAKE = """
local last = #ARGV - 2
local holder = redis.call('GET', KEYS[8])
if holder and holder ~= ARGV[#ARGV - 1] then return {false, 'leased'} end
redis.call('SET', KEYS[8], ARGV[#ARGV - 1], 'EX', ARGV[#ARGV])
""" + _MOVE

# Commands that land together (batch.AtomicBatch): ARGV holds, for each, its length then its
# name and arguments. pcall: a refused command (a full Redis refuses the first write, before any
# landed) ends the script with Redis's own error, code and all, as a refused EXEC would.
RUN = """
local i = 1
while i <= #ARGV do
  local count = tonumber(ARGV[i])
  local reply = redis.pcall(unpack(ARGV, i + 1, i + count))
  if type(reply) == 'table' and reply.err then return reply end
  i = i + count + 1
end
return 1
"""
RUN_SHA = hashlib.sha1(RUN.encode()).hexdigest()
# A worker ending a job, in one call: the writes that belong to its end (its outputs' bytes, its
# cache entry: in RUN's format, ahead of the status change, a client that saw the end finds them),
# its lease (KEYS[8]) let go of if the owner that ends ARGV holds it, then the transition (a refused
# one too: the worker is done with the job either way). ARGV ends: writes..., their length, owner.
FINISH = """
local writes = tonumber(ARGV[#ARGV - 1])
local last = #ARGV - 2 - writes
local i = last + 1
while i <= last + writes do
  local count = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + count))
  i = i + count + 1
end
if redis.call('GET', KEYS[8]) == ARGV[#ARGV] then redis.call('DEL', KEYS[8]) end
""" + _MOVE

# A run of a job lost with its worker (workers/reaper.py), counted once per delivery however often
# a reaper finds it: KEYS[1] the job hash, whose `deliveries` names the run. Answers the job's lost runs.
COUNT_LOST_RUN = """
local delivery = redis.call('HGET', KEYS[1], 'deliveries') or '0'
if redis.call('HGET', KEYS[1], 'lost_delivery') ~= delivery then
  redis.call('HSET', KEYS[1], 'lost_delivery', delivery)
  return redis.call('HINCRBY', KEYS[1], 'lost_runs', 1)
end
return tonumber(redis.call('HGET', KEYS[1], 'lost_runs') or '0')
"""

# A lease is renewed or released only by the worker that holds it.
# A lease that lapsed while Redis was away (its TTL ran out during an outage) is taken back by
# its holder if nobody took it meanwhile: the job never stopped running.
RENEW_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1 end
return 0
"""
RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def move_arguments(job_id: str, allowed: Iterable[JobStatus], to: JobStatus, fields: dict[str, Any], *,
                   running: str, answer_job: bool, lease: tuple[str, int] | None = None,
                   release: str | None = None, writes: list[Any] | None = None) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of TRANSITION, with `lease` (owner, TTL) of TAKE, with `release` (owner) of
    FINISH (`writes`: its writes in RUN's format)."""
    values = encode_fields({"status": to.value, **fields})  # status first: the script announces ARGV[7]
    flat = [item for pair in values.items() for item in pair]
    script_keys = [keys.job(job_id), keys.job_events(job_id), keys.RUNNING, keys.EVENTS_CHANNEL, keys.QUEUED,
                   keys.job_task(job_id), keys.PACKABLE]
    args = [",".join(json.dumps(s.value) for s in allowed), EVENTS_MAXLEN, running, "1" if answer_job else "0",
            job_id, *flat]
    if lease is not None:
        return [*script_keys, keys.lease(job_id)], [*args, *lease]
    if release is not None:
        writes = writes or []
        return [*script_keys, keys.lease(job_id)], [*args, *writes, len(writes), release]
    return script_keys, args
