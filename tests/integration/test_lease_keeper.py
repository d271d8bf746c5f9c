"""Leases renewed from one shared thread per process, on a real Redis server."""

import threading
import time

import pytest

from service.core import keys
from workers.lease import LeaseTaken, hold_lease


def test_held_leases_outlive_their_ttl_and_are_let_go_at_the_end(store):
    ttl = 1  # renewed every third of a second
    with hold_lease(store, "k1", ttl) as one, hold_lease(store, "k2", ttl) as two:
        time.sleep(2.5)
        assert store.redis.get(keys.lease("k1")).decode() == one
        assert store.redis.get(keys.lease("k2")).decode() == two
        with pytest.raises(LeaseTaken), hold_lease(store, "k1", ttl):
            pass
    assert not store.redis.exists(keys.lease("k1"), keys.lease("k2"))


def test_a_lease_held_by_one_of_many_threads_is_renewed_while_others_come_and_go(store):
    stop = threading.Event()

    def churn():
        i = 0
        while not stop.is_set():
            with hold_lease(store, f"short-{threading.get_ident()}-{i}", 30):
                pass
            i += 1

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        with hold_lease(store, "long", 1) as owner:
            time.sleep(2.5)
            assert store.redis.get(keys.lease("long")).decode() == owner
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not store.redis.exists(keys.lease("long"))


def test_a_lost_lease_is_not_renewed_for_its_new_holder(store):
    with hold_lease(store, "stolen", 1):
        store.redis.set(keys.lease("stolen"), "someone-else", ex=1)  # as if it expired and was taken
        time.sleep(1.6)
        assert not store.redis.exists(keys.lease("stolen"))  # expired: our keeper did not extend theirs
    assert not store.redis.exists(keys.lease("stolen"))
