"""`python -m bench.compare REF`: this working tree against a git revision, side by side in one run.

A shared machine drifts by tens of percent between runs minutes apart, so a change is measured
against its base in alternation: each round starts the stack of REF (a throwaway `git worktree`)
and then the stack of this tree, and runs the same one-call levels on each (`mnist-cdcgan`,
n = 1, `Accept: image/png`, c = 1 and c = 32 by default). A round's two stacks ran seconds apart;
compare within rounds. Prints one line per stack and level, and writes bench/results/compare.json.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
RESULTS = HERE / "bench" / "results"
MODEL = "mnist-cdcgan"


def measure(levels: list[int], duration_s: float) -> dict:
    """Run in a child whose working directory is the tree under test: its imports are that tree's."""
    from bench.scenarios import load_level
    from bench.stack import Stack

    body = {"model": MODEL, "n": 1}
    out = {}
    with Stack(Path(tempfile.mkdtemp(prefix="compare-")), {}) as stack:
        load_level(stack, body, concurrency=2, warmup_s=0.0, duration_s=1.0)  # load the session
        for c in levels:
            r = load_level(stack, body, concurrency=c, warmup_s=1.0, duration_s=duration_s, headers={"Accept": "image/png"})
            cpu = r["cpu_ms_per_request"]
            out[str(c)] = {
                "req_per_s": round(r["requests_per_s"], 1), "p50_ms": round(r["p50_ms"], 2), "p99_ms": round(r["p99_ms"], 2),
                "cpu_ms_per_request": round(cpu["api"] + cpu["worker"] + cpu["redis"], 2),
                "cpu_api_worker_redis": [round(cpu[k], 2) for k in ("api", "worker", "redis")],
                "redis_commands_per_request": round(r["redis_commands_per_request"], 1),
                "errors": sum(v for k, v in r["statuses"].items() if k != "200"),
            }
    return out


def run_tree(tree: Path, levels: list[int], duration_s: float) -> dict:
    answer = subprocess.run(
        [sys.executable, "-c", f"import json, bench.compare as c; print(json.dumps(c.measure({levels!r}, {duration_s!r})))"],
        cwd=tree, capture_output=True, text=True, timeout=600,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"measuring {tree} failed: {answer.stderr[-2000:]}")
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n")[0])
    parser.add_argument("ref", help="the git revision to compare against (HEAD, a commit, a branch)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levels", default="1,32")
    parser.add_argument("--duration", type=float, default=4.0)
    args = parser.parse_args()
    levels = [int(c) for c in args.levels.split(",")]
    base = Path(tempfile.mkdtemp(prefix="compare-base-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), args.ref], cwd=HERE, check=True)
    if not (base / "bench" / "compare.py").exists():  # an older revision: measure it with this harness
        shutil.copy(Path(__file__), base / "bench" / "compare.py")
    rounds = []
    try:
        for index in range(args.rounds):
            pair = {}
            for name, tree in ((args.ref, base), ("this tree", HERE)):
                pair[name] = run_tree(tree, levels, args.duration)
                for c, r in pair[name].items():
                    print(f"round {index} {name:>10} c={c:>2}: {r['req_per_s']:7.1f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                          f"p99 {r['p99_ms']:7.2f} ms  CPU/req {r['cpu_ms_per_request']:.2f} ms  "
                          f"errors {r['errors']}", flush=True)
            rounds.append(pair)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=HERE, check=False)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "compare.json").write_text(json.dumps({"ref": args.ref, "levels": levels, "rounds": rounds}, indent=2) + "\n")


if __name__ == "__main__":
    main()
