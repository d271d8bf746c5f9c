"""Dynamic batching: concurrent requests for one model version share ONNX Runtime runs.

Task threads submit their inputs and wait on a future; one thread per model collects requests
until the batch holds `max_batch_size` images or the oldest has waited `max_delay_ms`, runs
them together and hands each request its rows back. Requests that queued while a batch ran
always ride the next one; the delay is spent only under load. Without load (the last batch was a
lone request, nothing waits and nothing runs) the calling thread runs its request itself: a
hand-off to the batcher's thread and back would be all the batcher adds. Rows don't interact in
a generator at inference (batch norm uses running statistics), so a request's images are the
same batched or alone. That is also why a run that fails to allocate memory is split in halves
and retried (`infer_within_memory`): only a single row that does not fit fails, with
`out_of_memory`, and the batcher goes on.
"""

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from workers.job_runner import JobFailed

# Called with (batcher name, images) after every run a batcher forms: how /metrics sees batch
# sizes (workers/main.py adds the worker's recorder).
BATCH_OBSERVERS: list[Callable[[str, int], None]] = []


# How ONNX Runtime (CPU and CUDA providers) and CUDA word a failed allocation.
_ALLOCATION_FAILURES = ("out of memory", "failed to allocate memory", "bad allocation", "bad_alloc",
                        "cudaerrormemoryallocation")


def is_allocation_failure(error: BaseException) -> bool:
    return isinstance(error, MemoryError) or any(words in str(error).lower() for words in _ALLOCATION_FAILURES)


def infer_within_memory(infer: Callable[[dict[str, np.ndarray]], np.ndarray],
                        feeds: dict[str, np.ndarray]) -> np.ndarray:
    """`infer(feeds)`; when it runs out of memory, each half of the rows on its own, and so on
    down to one row, which then fails its job with `out_of_memory`."""
    try:
        return infer(feeds)
    except Exception as error:
        if not is_allocation_failure(error):
            raise
        rows = len(next(iter(feeds.values())))
        if rows <= 1:
            raise JobFailed("out_of_memory", f"one image does not fit in this worker's memory: {error}") from None
    half = rows // 2  # out of the handler, so the failed run's buffers can go
    return np.concatenate([infer_within_memory(infer, {k: v[:half] for k, v in feeds.items()}),
                           infer_within_memory(infer, {k: v[half:] for k, v in feeds.items()})])


@dataclass
class _Request:
    feeds: dict[str, np.ndarray]
    future: Future = field(default_factory=Future)

    @property
    def size(self) -> int:
        return len(next(iter(self.feeds.values()))) if self.feeds else 0


class DynamicBatcher:
    def __init__(self, infer: Callable[[dict[str, np.ndarray]], np.ndarray], *, max_batch_size: int,
                 max_delay_ms: float, name: str = "model"):
        self.infer = infer
        self.name = name
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_ms / 1000
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._held: _Request | None = None  # a request that did not fit the last batch
        self.batches_run = 0
        self._last_batch_requests = 1
        self._closed = False
        self._running = threading.Lock()  # held by whoever runs the model: this batcher's thread or a lone caller
        threading.Thread(target=self._loop, name=f"batcher-{name}", daemon=True).start()

    def close(self) -> None:
        """Stop after the requests already queued (the model was evicted from the cache)."""
        self._closed = True
        self._queue.put(_Request({}))  # wakes the loop

    def run(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
        """Run one request (any number of rows); answers its output rows and the largest batch
        it rode in."""
        n = len(next(iter(feeds.values())))
        if n <= self.max_batch_size and self._alone():
            try:
                images = infer_within_memory(self.infer, feeds)
            finally:
                self._running.release()
            self._observe(len(images))
            return images, len(images)
        chunks = []
        for start in range(0, n, self.max_batch_size):
            request = _Request({k: v[start : start + self.max_batch_size] for k, v in feeds.items()})
            self._queue.put(request)
            chunks.append(request.future)
        results = [chunk.result() for chunk in chunks]
        return np.concatenate([rows for rows, _ in results]), max(size for _, size in results)

    def _alone(self) -> bool:
        """Whether a caller may run now, in its own thread (holding `_running` if so)."""
        quiet = not self._closed and self._last_batch_requests == 1 and self._held is None and self._queue.empty()
        return quiet and self._running.acquire(blocking=False)

    def _observe(self, images: int) -> None:
        self.batches_run += 1
        for observe in BATCH_OBSERVERS:
            observe(self.name, images)

    def _next_batch(self) -> list[_Request]:
        first = self._held or self._queue.get()
        self._held = None
        batch, size = [first], first.size
        # Wait for company only under load (the last batch was shared): alone, a request would
        # pay the whole delay for nothing, as bench/REPORT.md measured at concurrency 1.
        delay = self.max_delay_s if self._last_batch_requests > 1 else 0.0
        deadline = time.monotonic() + delay
        while size < self.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                request = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if size + request.size > self.max_batch_size:
                self._held = request
                break
            batch.append(request)
            size += request.size
        self._last_batch_requests = len(batch)
        return batch

    def _loop(self) -> None:
        while True:
            batch = [r for r in self._next_batch() if r.feeds]
            if not batch:
                if self._closed and self._queue.empty() and self._held is None:
                    return
                continue
            try:
                feeds = {name: np.concatenate([r.feeds[name] for r in batch]) for name in batch[0].feeds}
                with self._running:
                    images = infer_within_memory(self.infer, feeds)
                self._observe(len(images))
            except Exception as error:  # the requests fail, the batcher lives on
                for request in batch:
                    request.future.set_exception(error)
                continue
            start = 0
            for request in batch:
                request.future.set_result((images[start : start + request.size], len(images)))
                start += request.size
