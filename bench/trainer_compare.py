"""The DCGAN trainer on the CPU, this tree against a git revision, rounds alternated in one run.

    python -m bench.trainer_compare 01f1ec1 --rounds 3 --steps 40

Each round runs `bench.trainer.measure_training` once per tree, each in a fresh process whose
import path is that tree (the revision is checked out with `git worktree` under a temporary
folder), alternating which goes first. The machine drifts between runs, so only a ratio
measured this way means anything. Reports each round and the median ratio.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MEASURE = ("import json, sys, torch; torch.set_num_threads(int(sys.argv[1])); "
           "from bench.trainer import measure_training; "
           "print(json.dumps(measure_training(steps=int(sys.argv[2]), batch_size=int(sys.argv[3]), base_features=64)))")


def measure(tree: Path, threads: int, steps: int, batch_size: int) -> dict:
    answer = subprocess.run([sys.executable, "-c", MEASURE, str(threads), str(steps), str(batch_size)], cwd=tree,
                            env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, check=True,
                            capture_output=True, text=True)
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.trainer_compare", description=__doc__.split("\n")[0])
    parser.add_argument("ref", help="the git revision to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        other = Path(scratch) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", str(other), args.ref], cwd=REPO, check=True,
                       capture_output=True)
        try:
            rounds = []
            for index in range(args.rounds):
                trees = [("this", REPO), ("ref", other)]
                order = trees if index % 2 == 0 else trees[::-1]
                figures = {name: measure(tree, args.threads, args.steps, args.batch_size) for name, tree in order}
                ratio = figures["this"]["images_per_s"] / figures["ref"]["images_per_s"]
                rounds.append({"this_images_per_s": round(figures["this"]["images_per_s"], 1),
                               "ref_images_per_s": round(figures["ref"]["images_per_s"], 1),
                               "ratio": round(ratio, 3)})
                print(json.dumps(rounds[-1]), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(other)], cwd=REPO, check=False)
    print(json.dumps({"ref": args.ref, "steps": args.steps, "batch_size": args.batch_size, "threads": args.threads,
                      "median_ratio_this_over_ref": round(statistics.median(r["ratio"] for r in rounds), 3)}))


if __name__ == "__main__":
    main()
