"""A TorchServe handler of the project's own, for `python -m bench.peers`: one picture per request,
the same work GANForge's `/generate` does for one image.

A request's JSON body carries its `seed` (without one a seed is drawn, as GANForge draws one for
an unseeded request). For each request of a batch the latent is drawn from the seed exactly as
GANForge draws it (`sample_latents(seed, 1, latent_dim)`), the batch's latents go through one
ONNX Runtime run on the same .onnx file with the session options GANForge's workers use (the
same intra-op threads, pool threads that never spin), the images become uint8 (`to_uint8`) and
each is written as PNG by GANForge's own encoder at the same zlib level. The answer of each
request is its PNG, `image/png`.

TorchServe loads this file from the model archive and calls `handle(None, context)` once, then
`handle(requests, context)` per batch. Its settings come from the archive's model-config YAML,
section `ganforge`: `repo` (this repository, where the project's functions are imported from),
`threads`, `png_compress_level`, `latent_dim`, `input` and `output`. `Pictures` is the work
itself, usable without TorchServe (tests/bench/test_peers_handler.py).
"""

import json
import secrets
import sys
from pathlib import Path

CONFIG_SECTION = "ganforge"
SEED_LIMIT = 2**32  # GANForge's seeds are 0 .. 2**32 - 1


class Pictures:
    """Seeds in, one PNG each out."""

    def __init__(self, onnx_path: Path, *, latent_dim: int, threads: int, png_compress_level: int,
                 input_name: str = "z", output: str = "images"):
        from models.inference.sessions import open_session

        # shares_cores=True: what GANForge's workers open (workers/sessions.py): `threads` intra-op
        # threads (0: half the usable cores, at least one) that never spin between runs.
        self.session = open_session(Path(onnx_path), threads=threads, shares_cores=True)
        self.latent_dim, self.level = latent_dim, png_compress_level
        self.input_name, self.output = input_name, output

    def latents(self, seeds: list[int]):
        import numpy as np

        from models.inference.latents import sample_latents

        # One request's latent at a time, as a GANForge job draws its own; a batch is their rows.
        return np.concatenate([sample_latents(seed, 1, self.latent_dim) for seed in seeds])

    def __call__(self, seeds: list[int]) -> list[bytes]:
        from models.inference.imaging import encode
        from models.inference.pixels import to_uint8

        images = self.session.run([self.output], {self.input_name: self.latents(seeds)})[0]
        return [encode(pixels, "png", png_compress_level=self.level) for pixels in to_uint8(images)]


def seed_of(request: dict) -> int:
    """The seed of one TorchServe request: its JSON body (parsed by TorchServe for
    application/json, raw bytes otherwise), `{"seed": 123}`; none: a seed drawn at random."""
    body = request.get("body", request.get("data"))
    if isinstance(body, (bytes, bytearray)):
        body = json.loads(body) if body.strip() else {}
    seed = (body or {}).get("seed")
    if seed is None:
        return secrets.randbelow(SEED_LIMIT)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be an integer from 0 to {SEED_LIMIT - 1}, not {seed!r}")
    return seed


def from_context(context) -> Pictures:
    """The handler's `Pictures`, from TorchServe's context: the archive's ONNX file and its YAML."""
    config = (getattr(context, "model_yaml_config", None) or {}).get(CONFIG_SECTION, {})
    repo = config.get("repo")
    if repo and repo not in sys.path:
        sys.path.append(repo)  # after TorchServe's own entries: nothing of the venv is shadowed
    model_dir = Path(context.system_properties["model_dir"])
    onnx_file = (context.manifest or {}).get("model", {}).get("serializedFile", "model.onnx")
    pictures = Pictures(model_dir / onnx_file, latent_dim=int(config["latent_dim"]), threads=int(config.get("threads", 0)),
                        png_compress_level=int(config.get("png_compress_level", 1)),
                        input_name=config.get("input", "z"), output=config.get("output", "images"))
    pictures([0])  # one untimed run, as GANForge's workers warm a session up when they load it
    return pictures


_pictures: Pictures | None = None


def handle(data: list[dict] | None, context) -> list[bytes] | None:
    """TorchServe's entry point: `data` is None once at load, then a batch of requests."""
    global _pictures
    if _pictures is None:
        _pictures = from_context(context)
    if data is None:
        return None
    seeds, answers, bad = [], [None] * len(data), {}
    for index, request in enumerate(data):
        try:
            seeds.append((index, seed_of(request)))
        except (ValueError, TypeError, AttributeError) as error:
            bad[index] = str(error)
    pictures = _pictures([seed for _, seed in seeds]) if seeds else []
    for (index, _), picture in zip(seeds, pictures):
        answers[index] = picture
        context.set_response_content_type(index, "image/png")
    for index, detail in bad.items():
        answers[index] = json.dumps({"detail": detail})
        context.set_response_content_type(index, "application/json")
        context.set_response_status(400, "Bad Request", index)
    return answers
