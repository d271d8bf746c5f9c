"""A job's path through the API, the same for every kind of job, all on the event loop's Redis client:

- plan: what a checked request asks for (`JobPlan`), what submitting it gives back, a new job's writes;
- submit: one round trip of reads (the model's owner, the cached answer, the queue's depth), then
  the answer from the cache or the job recorded and queued with its message (backpressure, coalescing);
- cache: the result cache's key and its reader;
- answer: 202/200, `Prefer: wait`, the one-call picture, inline outputs;
- idempotency: `Idempotency-Key`;
- coalescer: concurrent short jobs leaving as one Celery message.
"""
