"""A job's path through the API, the same for every kind of job: submit (create, queue, backpressure,
coalescing), cache (the result cache's key and reader), answer (202/200, `Prefer: wait`, the one-call
picture) and idempotency (`Idempotency-Key`)."""
