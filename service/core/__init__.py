"""The kernel: what the API and the workers both stand on (settings, logs, the job record and
its store, the routing table, worker presence). It imports nothing else of ours, and not FastAPI."""
