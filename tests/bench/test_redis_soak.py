"""`python -m bench.redis_soak` runs end to end for a few seconds: the store's writes at a steady
rate on make run's Redis, records packed by the reaper's pass, so the 30-minute soak of issue 24
is known to work before it is run. Figures are not asserted: bytes, not time, and only coarsely."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_short_soak_writes_jobs_packs_their_records_and_reports(tmp_path):
    out = tmp_path / "soak.json"
    env = {**os.environ, "GANFORGE_RECORD_PACK_AFTER_S": "0", "GANFORGE_LEASE_TTL_S": "3"}  # a pass a second
    answer = subprocess.run([sys.executable, "-m", "bench.redis_soak", "--rate", "100", "--minutes", "0.1",
                             "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert answer.returncode == 0, answer.stdout[-3000:] + answer.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["jobs"] >= 300 and result["refused_writes"] == 0
    records = result["final"]["kinds"]["record"]
    assert records["keys"] == result["jobs"]
    # Packed ones cost ~0.4 KB, a hash ~1.4 KB; the last second's jobs may still wait for their pass.
    assert records["mean_bytes"] < 1100, records
    assert "queued task" not in result["final"]["kinds"]  # forgotten at each job's end
    assert result["final"]["kinds"]["output blob"]["max_ttl_s"] <= result["one_call_ttl_s"]
