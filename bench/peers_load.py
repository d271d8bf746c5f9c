"""The project's load generator (bench/load.py) with a distinct seed in every request.

bench/load.py sends one fixed body. For `python -m bench.peers` each request must ask for a
picture no other request asked for (a seeded GANForge request is a cache lookup, then a miss;
TorchServe gets the same seeds): a body whose `seed` is SEED_MARK gets, in each request, the next
number of a counter started at the spec's `seed_base`. Everything else (the closed loop, the
keep-alive connections, the window, the latency) is bench/load.py's own: its module runs here,
in this process of its own, with http.client's connection class swapped for one that fills the
seed in.

Run as `python -m bench.peers_load '<json spec>'` (bench/load.py's spec, plus `seed_base`);
prints one JSON object.
"""

import http.client
import itertools
import json
import sys

from bench import load

SEED_MARK = -1  # `"seed": -1` in a body: a fresh seed in each request
_MARK = f'"seed": {SEED_MARK}'.encode()  # as json.dumps writes it (bench/load.py)


def seeded_connection(seeds: itertools.count) -> type:
    class SeededConnection(http.client.HTTPConnection):
        def request(self, method, url, body=None, headers=None, **kwargs):
            if isinstance(body, bytes) and _MARK in body:
                body = body.replace(_MARK, f'"seed": {next(seeds)}'.encode())  # next(): atomic under the GIL
            return super().request(method, url, body, headers or {}, **kwargs)

    return SeededConnection


def run(spec: dict) -> dict:
    base = int(spec.pop("seed_base", 0))
    seeds = itertools.count(base)
    load.http.client.HTTPConnection = seeded_connection(seeds)  # this process only
    result = load.run(spec)
    result["seeds_used"] = next(seeds) - base  # requests sent with a fresh seed
    return result


def main() -> None:
    print(json.dumps(run(json.loads(sys.argv[1]))))


if __name__ == "__main__":
    main()
