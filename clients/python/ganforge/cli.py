"""`ganforge`: the command line on the SDK.

Exit codes (scripts may rely on them):
  0  done
  1  the job ran and failed, or was canceled
  2  usage: bad arguments, or a local file that is missing or unreadable
  3  the API refused the request (a 4xx answer: validation, unknown model, ...)
  4  the service is unavailable (cannot connect, 5xx, or still 429/503 after the retries)
  5  timed out waiting for a job (it goes on; `ganforge jobs wait ID`)
  130 interrupted (Ctrl-C)
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Column, Table

from ganforge import __version__
from ganforge._config import KEY_ENV
from ganforge._retry import RetryPolicy
from ganforge.client import Client
from ganforge.errors import (
    ApiError,
    ConnectionFailed,
    JobFailed,
    RateLimited,
    ServerError,
    Unauthorized,
    WaitTimeout,
)
from ganforge.types import Interpolation, StyleMixing

EXIT_OK, EXIT_JOB_FAILED, EXIT_USAGE, EXIT_API_ERROR, EXIT_UNAVAILABLE, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


# -- writing results --------------------------------------------------------------------------------


def _dump(value: Any) -> None:
    if isinstance(value, list):
        value = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    elif hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    print(json.dumps(value, indent=2, default=str))


def save_images(images, target: str, stem: str, fmt: str) -> list[Path]:
    """One image to a file path (when `target` names a file), else each into the folder `target`."""
    path = Path(target)
    if len(images) == 1 and path.suffix:
        path.parent.mkdir(parents=True, exist_ok=True)
        images[0].save(path)
        return [path]
    path.mkdir(parents=True, exist_ok=True)
    written = []
    for index, image in enumerate(images):
        name = path / f"{stem}-{index}.{'jpg' if fmt == 'jpeg' else fmt}"
        image.save(name)
        written.append(name)
    return written


def _output_file(target: str | None, source: str, suffix: str, fmt: str) -> str:
    if target:
        return target
    stem = Path(source).stem
    return f"{stem}{suffix}.{'jpg' if fmt == 'jpeg' else fmt}"


# -- commands --------------------------------------------------------------------------------------------


def _saved(gf: Client, args, images, target: str, stem: str) -> int:
    """Write the images; print their paths, or with --json the job that made them (paths under
    `saved`) so a script can read both."""
    written = save_images(images, target, stem, args.format)
    if args.json:
        job_id = images[0].info.get("job_id") if images else None
        job = gf.jobs.get(job_id).model_dump(mode="json") if job_id else {}
        _dump({**job, "saved": [str(path) for path in written]})
    else:
        for path in written:
            print(path)
    return EXIT_OK


def _interpolation(args) -> Interpolation | None:
    if args.interpolate is None:
        if any(value is not None for value in (args.frames, args.space, args.animation)):
            raise argparse.ArgumentTypeError("--frames, --space and --animation shape a walk: add --interpolate TO_SEED")
        return None
    return Interpolation(to_seed=args.interpolate, frames=args.frames, space=args.space, animation=args.animation)


def cmd_generate(gf: Client, args) -> int:
    style_mixing = StyleMixing(seed=args.style_mixing[0], crossover=args.style_mixing[1]) if args.style_mixing else None
    images = gf.generate(
        args.model, args.n, seed=args.seed, labels=args.labels, truncation=args.truncation,
        truncation_psi=args.truncation_psi, style_mixing=style_mixing, noise_mode=args.noise_mode,
        interpolate=_interpolation(args), codes=_pairs(args.codes, "--codes") or None, format=args.format,
        quality=args.quality, grid=args.grid, webhook=args.webhook, webhook_events=args.webhook_events,
        timeout=args.timeout,
    )
    job_id = images[0].info.get("job_id", "images") if images else "images"
    return _saved(gf, args, images, args.output, job_id)


def cmd_translate(gf: Client, args) -> int:
    image = gf.translate(args.image, args.model, direction=args.direction, format=args.format, resize=args.resize,
                         timeout=args.timeout)
    target = _output_file(args.output, args.image, f"-{args.direction}", args.format)
    return _saved(gf, args, [image], target, Path(args.image).stem)


def cmd_upscale(gf: Client, args) -> int:
    image = gf.upscale(args.image, args.model, outscale=args.outscale, tile=args.tile, tile_overlap=args.tile_overlap,
                       format=args.format, timeout=args.timeout)
    target = _output_file(args.output, args.image, "-upscaled", args.format)
    return _saved(gf, args, [image], target, Path(args.image).stem)


def _pairs(groups: list[list[str]] | None, option: str) -> dict[str, Any]:
    """KEY=VALUE pairs from an option that is both repeatable and takes several (`--hp a=1 b=2
    --hp c=3`); each value as JSON when it parses (3, true, [1, 2]), else as the string it is."""
    found = {}
    for pair in (pair for group in groups or [] for pair in group):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"{option} takes KEY=VALUE pairs, not {pair!r}")
        try:
            found[key] = json.loads(value)
        except ValueError:
            found[key] = value
    return found


def _hyperparameters(groups: list[list[str]] | None) -> dict[str, Any]:
    return _pairs(groups, "--hp")


def cmd_train(gf: Client, args) -> int:
    dataset = args.dataset
    if Path(dataset).exists():  # a folder or an archive here: upload it first
        uploaded = gf.datasets.upload(dataset, layout=args.layout)
        err.print(f"uploaded {dataset} as dataset {uploaded.id} ({uploaded.layout}, {uploaded.num_images} images)")
        dataset = uploaded.id
    model_name = args.model_name or f"{Path(args.dataset).name.lower()}-{args.architecture}".strip("-.")
    result = gf.train(args.architecture, dataset, model_name, steps=args.steps, epochs=args.epochs,
                      image_size=args.image_size, seed=args.seed, hyperparameters=_hyperparameters(args.hp),
                      follow=args.follow, progress=not args.quiet, timeout=args.timeout)
    if args.json:
        _dump(_train_job(gf, result) if args.follow else result)
    elif args.follow:
        print(result.ref)
    else:
        print(result.id)
    return EXIT_OK


def _train_job(gf: Client, manifest) -> dict[str, Any]:
    """The finished training job, with the version it registered under `registered`."""
    job_id = (manifest.provenance or {}).get("job_id")
    job = gf.jobs.get(job_id).model_dump(mode="json") if job_id else {}
    return {**job, "registered": manifest.model_dump(mode="json")}


def cmd_evaluate(gf: Client, args) -> int:
    job = gf.evaluate(args.model, dataset=args.dataset, n_samples=args.n_samples, extractor=args.extractor,
                      timeout=args.timeout)
    _dump(job.metrics if not args.json else job)
    return EXIT_OK


def cmd_models(gf: Client, args) -> int:
    action = getattr(args, "action", None)
    if action == "upload":
        manifest = gf.models.upload(args.name, args.onnx, args.manifest)
        _dump(manifest) if args.json else print(manifest.ref)
        return EXIT_OK
    if action == "import":
        manifest = gf.models.import_checkpoint(args.name, args.file, args.file_b, format=args.format,
                                               options=dict(args.option or []))
        _dump(manifest) if args.json else print(manifest.ref)
        return EXIT_OK
    if action == "show":
        found = gf.models.get(args.name, args.version)
        _dump(found)
        return EXIT_OK
    models = gf.models.list()
    if args.json:
        _dump(models)
        return EXIT_OK
    table = Table(Column("name", no_wrap=True), "task", "versions", "aliases", "latest size", box=box.SIMPLE_HEAD)
    for model in models:
        signature = model.latest.signature
        size = signature.get("image_size")
        table.add_row(model.name, model.latest.task, ", ".join(map(str, model.versions)),
                      ", ".join(f"{k}={v}" for k, v in model.aliases.items()), str(size) if size else "")
    out.print(table)
    return EXIT_OK


def _id_column(ids: list[str]) -> Column:
    """Ids are for copying into `jobs show`: never cut or wrapped, whatever the terminal's width."""
    return Column("id", no_wrap=True, min_width=max((len(i) for i in ids), default=2))


def _job_table(jobs) -> Table:
    table = Table(_id_column([job.id for job in jobs]), "kind", "status", "model", "created", "progress",
                  box=box.SIMPLE_HEAD)
    for job in jobs:
        progress = ""
        if job.progress and job.progress.get("total"):
            progress = f"{job.progress.get('step')}/{job.progress['total']}"
        table.add_row(job.id, job.kind, job.status.value, str(job.model or ""),
                      job.created_at.strftime("%Y-%m-%d %H:%M:%S"), progress)
    return table


def cmd_jobs(gf: Client, args) -> int:
    action = getattr(args, "action", None)
    if action == "show":
        _dump(gf.jobs.get(args.id))
    elif action == "cancel":
        job = gf.jobs.cancel(args.id)
        _dump(job) if args.json else print(f"{job.id} {job.status.value}")
    elif action == "wait":
        job = gf.jobs.wait(args.id, timeout=args.timeout, progress=not args.quiet)
        _dump(job) if args.json else print(f"{job.id} {job.status.value}")
        if job.status.value != "succeeded":
            return EXIT_JOB_FAILED
    else:
        page = gf.jobs.list(kind=args.kind, status=args.status, limit=args.limit, cursor=args.cursor)
        if args.json:
            _dump(page)
        else:
            out.print(_job_table(page.jobs))
            if page.next_cursor:
                err.print(f"more: --cursor {page.next_cursor}")
    return EXIT_OK


def cmd_datasets(gf: Client, args) -> int:
    if getattr(args, "action", None) == "upload":
        dataset = gf.datasets.upload(args.path, layout=args.layout, name=args.name)
        _dump(dataset) if args.json else print(dataset.id)
        return EXIT_OK
    datasets = gf.datasets.list()
    if args.json:
        _dump(datasets)
        return EXIT_OK
    table = Table(_id_column([d.id for d in datasets]), "name", "layout", "images", "builtin", box=box.SIMPLE_HEAD)
    for dataset in datasets:
        table.add_row(dataset.id, dataset.name or "", dataset.layout, str(dataset.num_images), str(dataset.builtin))
    out.print(table)
    return EXIT_OK


# -- arguments ------------------------------------------------------------------------------------------


def _common_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """On the main parser with their defaults; on each command without (so they don't overwrite
    what was given before the command)."""

    def default(value):
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--url", default=default(None),
                        help="service URL (default $GANFORGE_URL, else http://127.0.0.1:8000)")
    parser.add_argument("--api-key", default=default(None), help="API key (default $GANFORGE_API_KEY)")
    parser.add_argument("--json", action="store_true", default=default(False), help="print results as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", default=default(False), help="no progress bars")
    parser.add_argument("--timeout", type=float, default=default(None),
                        help="seconds to wait for a job (default: no limit)")
    parser.add_argument("--retries", type=int, default=default(5),
                        help="tries again on 429/503 and lost connections (default 5)")


class _Subcommands:
    """Subparsers whose commands accept the common options after their name too."""

    def __init__(self, subparsers):
        self._subparsers = subparsers

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        command = self._subparsers.add_parser(name, **kwargs)
        _common_options(command, defaults=False)
        return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganforge", description="Generate, translate, upscale and train GANs on a GANForge service.",
        epilog=__doc__.split("\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common_options(parser, defaults=True)
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    commands = _Subcommands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))

    p = commands.add_parser("generate", help="images from a generator")
    p.add_argument("model", help="model as name, name:version or name:alias")
    p.add_argument("-n", type=int, default=1, help="number of images (default 1)")
    p.add_argument("--seed", type=int, help="seed: the same seed, the same images (and a cached answer)")
    p.add_argument("--labels", type=int, nargs="+", help="class for all images, or one per image")
    p.add_argument("--truncation", type=float, help="clip latents to ±T: less variety, more typical images")
    p.add_argument("--truncation-psi", type=float, metavar="PSI",
                   help="style models: pull w towards its average (1 leaves it, 0 the average image)")
    p.add_argument("--style-mixing", type=int, nargs=2, metavar=("SEED", "CROSSOVER"),
                   help="style models: from layer CROSSOVER on, the styles of SEED")
    p.add_argument("--noise-mode", choices=["const", "random"], help="style models: stored or seeded noise")
    p.add_argument("--interpolate", type=int, metavar="TO_SEED",
                   help="a walk from --seed to TO_SEED: --frames images and an animation")
    p.add_argument("--frames", type=int, help="images along the walk (default 8)")
    p.add_argument("--space", choices=["w", "z"], help="walk in w (style models, the default) or z")
    p.add_argument("--animation", choices=["webp", "gif"], help="encoding of the walk's animation (default webp)")
    p.add_argument("--codes", nargs="+", action="append", metavar="NAME=VALUE",
                   help="InfoGAN models: codes by name (category=3 continuous_0=0.8)")
    p.add_argument("--format", choices=["png", "jpeg", "webp"], default="png")
    p.add_argument("--quality", type=int, help="jpeg and webp quality, 1-100 (default 90)")
    p.add_argument("--grid", action="store_true", help="all n images in one picture")
    p.add_argument("--webhook", help="URL that receives the job as it changes")
    p.add_argument("--webhook-events", nargs="+", choices=["start", "progress", "completed"])
    p.add_argument("-o", "--output", default=".", help="folder for the images (or a file name for one image)")
    p.set_defaults(run=cmd_generate)

    p = commands.add_parser("translate", help="an image through an image-to-image model")
    p.add_argument("image", help="image file")
    p.add_argument("model", help="translate model, e.g. edges2digits-pix2pix")
    p.add_argument("--direction", choices=["a2b", "b2a"], default="a2b")
    p.add_argument("--resize", choices=["scale", "none", "fit"], default="scale")
    p.add_argument("--format", choices=["png", "jpeg", "webp"], default="png")
    p.add_argument("-o", "--output", help="output file (default <image>-<direction>.<format>)")
    p.set_defaults(run=cmd_translate)

    p = commands.add_parser("upscale", help="super-resolution of an image")
    p.add_argument("image", help="image file")
    p.add_argument("--model", default="sr-x4", help="upscale model (default sr-x4)")
    p.add_argument("--outscale", type=float, help="final factor (default: the network's own)")
    p.add_argument("--tile", type=int, help="tile size (0: no tiling)")
    p.add_argument("--tile-overlap", type=int, help="pixels each tile overlaps its neighbours")
    p.add_argument("--format", choices=["png", "jpeg", "webp"], default="png")
    p.add_argument("-o", "--output", help="output file (default <image>-upscaled.<format>)")
    p.set_defaults(run=cmd_upscale)

    p = commands.add_parser("train", help="train a model (uploads a local dataset folder first)")
    p.add_argument("architecture", help="e.g. dcgan, cdcgan, pix2pix (GET /train/architectures)")
    p.add_argument("--dataset", required=True, help="built-in name, uploaded id, or a local folder/archive to upload")
    p.add_argument("--layout", choices=["images", "classes", "unpaired", "paired"], help="layout of a local dataset")
    p.add_argument("--model-name", help="register as this model (default <dataset>-<architecture>)")
    p.add_argument("--steps", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--image-size", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--hp", nargs="+", action="append", metavar="KEY=VALUE",
                   help="hyperparameters: --hp lr=2e-4 batch_size=64, or one --hp per pair")
    p.add_argument("--follow", action=argparse.BooleanOptionalAction, default=True,
                   help="follow the job to its end with a progress bar (default)")
    p.set_defaults(run=cmd_train)

    p = commands.add_parser("evaluate", help="FID/KID/precision/recall of a generator")
    p.add_argument("model")
    p.add_argument("--dataset")
    p.add_argument("--n-samples", type=int)
    p.add_argument("--extractor", choices=["auto", "mnist", "inception"])
    p.set_defaults(run=cmd_evaluate)

    p = commands.add_parser("models", help="list models; `models show NAME`, `models upload NAME`, "
                                           "`models import NAME FILE --format F`")
    p.set_defaults(run=cmd_models)
    actions = _Subcommands(p.add_subparsers(dest="action", metavar="ACTION"))
    actions.add_parser("list", help="every model (the default)")
    a = actions.add_parser("show", help="a model, or one version's manifest")
    a.add_argument("name")
    a.add_argument("version", nargs="?")
    a = actions.add_parser("upload", help="register an ONNX file as a new version")
    a.add_argument("name")
    a.add_argument("--onnx", required=True, help="the .onnx file")
    a.add_argument("--manifest", required=True, help="manifest JSON (task, signature, ...)")
    a = actions.add_parser("import", help="import another project's checkpoint (Real-ESRGAN, pix2pix, ...)")
    a.add_argument("name")
    a.add_argument("file", help="the checkpoint (.pth state dict or .safetensors)")
    a.add_argument("file_b", nargs="?", help="a CycleGAN's second generator (latest_net_G_B.pth)")
    a.add_argument("--format", required=True, help="realesrgan, basicsr, junyanz, pytorch-examples-dcgan, "
                                                   "stylegan2-pytorch")
    a.add_argument("--option", action="append", type=_option, metavar="KEY=VALUE",
                   help="an option the shapes do not decide (netG=unet_256, norm=batch, promote=always); repeatable")

    p = commands.add_parser("jobs", help="list your jobs; `jobs show|cancel|wait ID`")
    p.add_argument("--kind", choices=["generate", "translate", "upscale", "train", "evaluate"])
    p.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "canceled"])
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--cursor")
    p.set_defaults(run=cmd_jobs)
    actions = _Subcommands(p.add_subparsers(dest="action", metavar="ACTION"))
    actions.add_parser("list", help="your jobs, newest first (the default)")
    for name, text in (("show", "a job as JSON"), ("cancel", "cancel a job"), ("wait", "wait for a job to end")):
        actions.add_parser(name, help=text).add_argument("id")

    p = commands.add_parser("datasets", help="list datasets; `datasets upload PATH`")
    p.set_defaults(run=cmd_datasets)
    actions = _Subcommands(p.add_subparsers(dest="action", metavar="ACTION"))
    actions.add_parser("list", help="every dataset (the default)")
    a = actions.add_parser("upload", help="upload a folder (zipped for you) or an archive")
    a.add_argument("path")
    a.add_argument("--layout", choices=["images", "classes", "unpaired", "paired"])
    a.add_argument("--name")
    return parser


def _option(text: str) -> tuple[str, Any]:
    """KEY=VALUE; VALUE as JSON when it parses (3, true, [1, 2]), else as the string it is."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: write an option as KEY=VALUE")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def exit_code(error: BaseException) -> int:
    if isinstance(error, JobFailed):
        return EXIT_JOB_FAILED
    if isinstance(error, WaitTimeout):
        return EXIT_TIMEOUT
    if isinstance(error, (ConnectionFailed, ServerError, RateLimited)):
        return EXIT_UNAVAILABLE
    if isinstance(error, ApiError):
        return EXIT_API_ERROR
    if isinstance(error, (OSError, argparse.ArgumentTypeError, ValueError)):
        return EXIT_USAGE
    raise error


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        retry = RetryPolicy(max_retries=max(0, args.retries))
        with Client(args.url, args.api_key, progress=not args.quiet, retry=retry) as gf:
            return args.run(gf, args)
    except KeyboardInterrupt:
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - each kind has its exit code, anything else re-raises
        code = exit_code(error)
        err.print(f"ganforge: {error}", markup=False, highlight=False)
        if isinstance(error, ApiError) and error.errors:
            for item in error.errors:
                err.print(f"  {item.get('field')}: {item.get('message')}", markup=False, highlight=False)
        if isinstance(error, WaitTimeout):
            err.print(f"  follow it with: ganforge jobs wait {error.job.id}", markup=False, highlight=False)
        if isinstance(error, Unauthorized) and error.status == 401:
            err.print(f"  {key_hint(args.api_key)}", markup=False, highlight=False)
        return code


def key_hint(given: str | None) -> str:
    """What to do about a 401, in terms of this command line rather than HTTP headers."""
    if given:
        return "the key given with --api-key was refused (unknown or revoked)"
    if os.environ.get(KEY_ENV):
        return f"the key in ${KEY_ENV} was refused (unknown or revoked)"
    return f"no API key: set {KEY_ENV} (`make run` prints a local admin key), or pass --api-key"


if __name__ == "__main__":
    sys.exit(main())
