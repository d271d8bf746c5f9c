"""The local stack: a Redis server of its own and supervised worker and API processes (`make run`,
the tests and the benchmarks start the same picture)."""
