"""Receipts (which worker fetched which job) are written by a thread of their own, on a real Redis."""

import time

from service.core import keys
from workers.receipts import ReceiptWriter


def test_notes_queued_by_the_consumer_land_in_one_hash_soon_after_and_on_stop(store):
    store.redis.delete(keys.RECEIVED)
    writer = ReceiptWriter(store, "worker-a")
    writer.note(["j1"])
    writer.note(["j2", "j3"])
    deadline = time.monotonic() + 5
    while len(store.received()) < 3:
        assert time.monotonic() < deadline, store.received()
        time.sleep(0.01)
    assert store.received() == {"j1": "worker-a", "j2": "worker-a", "j3": "worker-a"}
    writer.note(["j4"])
    writer.stop()  # what is pending is written before the thread ends
    assert store.received()["j4"] == "worker-a"
