"""One command line for training: `python -m training <family> [options]` for every family of
training/families/, `zoo` for the bundled models, `evaluate` to measure a version.

    python -m training cdcgan --dataset mnist-5k --steps 3000 --model-name my-digits --store models/zoo
    python -m training zoo --store models/zoo --threads 1 --examples docs    # what `make zoo` runs
    python -m training evaluate --model mnist-cdcgan:1 --dataset mnist-5k --n 2000 --store models/zoo

A family's options are its hyperparameters (`--lr-g`, `--base-features`, ...: see `python -m
training <family> --help`), validated by the same model as POST /train; the run goes through
the same recipe as a POST /train job. `--dry-run` takes a handful of steps into a throwaway
store: a smoke test of the whole path.
"""

import argparse
import json
import logging
import shlex
import sys
import tempfile
from pathlib import Path

from pydantic import BaseModel, ValidationError

from models.store import ModelStore
from training.data.builtin_datasets import builtin_datasets
from training.data.store import DatasetStore
from training.evaluation.run import Evaluation, evaluate_generator
from training.families import FAMILIES
from training.recipes.cli_session import DRY_RUN_STEPS, CommandLineSession
from training.zoo import ZOO, ZooRun

log = logging.getLogger("training")
DEFAULT_STATE = Path(".state")  # the service's default state folder: uploaded datasets, real-image statistics
QUIET_LOGGERS = ("torch.onnx", "onnx_ir", "onnxscript")  # the exporter logs every pass at INFO


def add_hyperparameters(parser: argparse.ArgumentParser, model: type[BaseModel]) -> None:
    """One `--flag` per field; unset flags keep the family's defaults (the model validates the rest)."""
    group = parser.add_argument_group("hyperparameters")
    for name, field in model.model_fields.items():
        flag = "--" + name.replace("_", "-")
        kind = field.annotation if field.annotation in (int, float, bool) else str
        if kind is bool:
            group.add_argument(flag, dest=name, type=lambda s: s.lower() in ("1", "true", "yes"), default=None,
                               help=f"{field.description} (default: {field.default})")
        else:
            group.add_argument(flag, dest=name, type=kind if kind in (int, float) else None, default=None,
                               help=f"{field.description} (default: {field.default})")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--threads", type=int, default=1, help="CPU threads for torch (1: reproducible timing)")
    commands = root.add_subparsers(dest="command", required=True)
    for family in FAMILIES.values():
        sub = commands.add_parser(family.name, parents=[common], help=family.summary, description=family.summary)
        sub.add_argument("--dataset", required=True, help="a built-in dataset (e.g. mnist-5k) or an uploaded one's id")
        sub.add_argument("--image-size", type=int, default=None, help="square training size (default: the dataset's)")
        sub.add_argument("--steps", type=int, default=1000)
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--checkpoint-dir", type=Path, default=None, help="checkpoint here and resume from here")
        sub.add_argument("--checkpoint-every", type=int, default=0)
        sub.add_argument("--samples-dir", type=Path, default=None, help="write sample grids here")
        sub.add_argument("--sample-every", type=int, default=0)
        sub.add_argument("--model-name", required=True)
        sub.add_argument("--store", type=Path, required=True, help="model registry root, e.g. models/zoo")
        sub.add_argument("--state-dir", type=Path, default=DEFAULT_STATE, help="where uploaded datasets live")
        sub.add_argument("--dry-run", action="store_true", help=f"{DRY_RUN_STEPS} steps into a temporary store")
        sub.add_argument("--device", default="auto", help="auto (CUDA when torch sees one), cpu, cuda or cuda:N")
        add_hyperparameters(sub, family.hyperparameters)
        sub.set_defaults(run=train_family, family=family.name)

    zoo = commands.add_parser("zoo", parents=[common], help="make the bundled models (training/zoo/)")
    zoo.add_argument("models", nargs="*", metavar="MODEL", help=f"which of {', '.join(ZOO)} (default: all, in order)")
    zoo.add_argument("--store", type=Path, default=Path("models/zoo"))
    zoo.add_argument("--steps", type=int, default=None, help="override each recipe's steps")
    zoo.add_argument("--work-dir", type=Path, default=None, help="checkpoints (resumable)")
    zoo.add_argument("--examples", type=Path, default=None, help="also write example PNGs here (e.g. docs)")
    zoo.add_argument("--examples-only", action="store_true", help="write the examples of registered models; train nothing")
    zoo.add_argument("--dry-run", action="store_true", help=f"{DRY_RUN_STEPS} steps each into a temporary store")
    zoo.set_defaults(run=make_zoo)

    evaluate = commands.add_parser("evaluate", parents=[common], help="measure a version and record the figures in its manifest")
    evaluate.add_argument("--model", required=True, help="name or name:version")
    evaluate.add_argument("--dataset", help="default: the dataset the version was trained on")
    evaluate.add_argument("--n", type=int, default=2000, help="generated samples")
    evaluate.add_argument("--extractor", default="auto", choices=["auto", "mnist", "inception"])
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--store", type=Path, required=True, help="model registry folder")
    evaluate.add_argument("--state-dir", type=Path, default=DEFAULT_STATE,
                          help="uploaded datasets and the real-image statistics cache live under it")
    evaluate.add_argument("--inception-path", type=Path, default=None, help="InceptionV3 file (make fetch-inception)")
    evaluate.set_defaults(run=run_evaluation)
    return root


def datasets_under(state_dir: Path) -> DatasetStore:
    return DatasetStore(state_dir / "artifacts" / "datasets", builtins=builtin_datasets())


def train_family(args: argparse.Namespace, command: str) -> int:
    family = FAMILIES[args.family]
    given = {name: getattr(args, name) for name in family.hyperparameters.model_fields if getattr(args, name) is not None}
    try:
        hyperparameters = family.hyperparameters.model_validate(given).model_dump()
    except ValidationError as error:
        raise SystemExit(f"{family.name}: {error}") from None
    datasets = datasets_under(args.state_dir)
    record = datasets.get(args.dataset)
    native = record.sizes[0]["width"] if record.sizes and record.sizes[0]["width"] == record.sizes[0]["height"] else 32
    params = {
        "architecture": family.name, "dataset": args.dataset, "model_name": args.model_name,
        "image_size": args.image_size or native, "steps": DRY_RUN_STEPS if args.dry_run else args.steps,
        "seed": args.seed, "checkpoint_every": args.checkpoint_every, "sample_every": args.sample_every,
        "hyperparameters": hyperparameters,
    }
    from training.recipes.table import RECIPES  # torch, once a run is asked for

    with tempfile.TemporaryDirectory() as scratch:
        models = ModelStore(Path(scratch) if args.dry_run else args.store)
        evaluation = Evaluation(models=models, datasets=datasets, real_stats_dir=args.state_dir / "artifacts" / "real_stats")
        session = CommandLineSession(family, params, datasets=datasets, models=models, evaluation=evaluation,
                                     command=command, checkpoint_dir=args.checkpoint_dir, samples_dir=args.samples_dir,
                                     device=args.device)
        outcome = RECIPES[family.recipe](session)
    print(json.dumps(outcome.metrics, indent=1, default=str))
    return 0


def make_zoo(args: argparse.Namespace, command: str) -> int:
    unknown = [name for name in args.models if name not in ZOO]
    if unknown:
        raise SystemExit(f"unknown zoo model(s) {', '.join(unknown)}; known: {', '.join(ZOO)}")
    for name in args.models or list(ZOO):
        model = ZOO[name]
        if not args.examples_only:
            work_dir = args.work_dir / name if args.work_dir else None
            model.train(ZooRun(args.store, f"{command.split(' zoo')[0]} zoo {name}", steps=args.steps,
                               dry_run=args.dry_run, work_dir=work_dir))
        if args.examples and model.examples is not None and not args.dry_run:
            for path in model.examples(args.store, args.examples):
                log.info("wrote %s", path)
    return 0


def run_evaluation(args: argparse.Namespace, command: str) -> int:
    store = ModelStore(args.store)
    manifest = store.resolve(args.model)
    evaluation = Evaluation(models=store, datasets=datasets_under(args.state_dir),
                            real_stats_dir=args.state_dir / "artifacts" / "real_stats", inception_path=args.inception_path)
    figures = evaluate_generator(evaluation, manifest, args.dataset or manifest.provenance.dataset, args.n,
                                 args.extractor, args.seed)
    print(json.dumps(figures, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    if args.command != "evaluate":
        import torch

        torch.set_num_threads(args.threads)  # on a shared machine one thread per run beats two fighting for a core
    return args.run(args, shlex.join(["python", "-m", "training", *argv]))


if __name__ == "__main__":
    sys.exit(main())
