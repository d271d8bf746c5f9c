"""The SDK's surface, written once for both clients.

Each method hands a flow (ganforge/_flows.py) to `self._run`: the sync Client runs it and
answers the result; the AsyncClient answers an awaitable of it. Each is annotated with the
result, which `@answers` turns into an awaitable of it on the AsyncClient (ganforge/_surface.py).
"""

import builtins
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from ganforge import _flows as flows
from ganforge._images import ImageInput
from ganforge._surface import Mode, Surface, answers
from ganforge.types import (
    Dataset,
    Interpolation,
    Job,
    JobPage,
    Manifest,
    ModelSummary,
    StyleMixing,
)


class Jobs(Surface[Mode]):
    def __init__(self, run: Callable[..., Any]) -> None:
        self._run = run

    @answers
    def get(self, job_id: str) -> Job:
        """The job as it stands (`Job`)."""
        return self._run(flows.get_job(job_id))

    @answers
    def list(self, *, kind: str | None = None, status: str | None = None, limit: int | None = None,
             cursor: str | None = None) -> JobPage:
        """One page of your jobs, newest first (`JobPage`: `jobs`, `next_cursor`)."""
        return self._run(flows.list_jobs(kind, status, limit, cursor))

    @answers
    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job; answers the job (`Job`)."""
        return self._run(flows.cancel_job(job_id))

    @answers
    def wait(self, job_id: str, *, timeout: float | None = None, progress: bool = False) -> Job:
        """The job once it ended, whatever its status; WaitTimeout when `timeout` runs out first."""
        return self._run(flows.wait_job(job_id, timeout, progress))

    @answers
    def outputs(self, job: Job, name: str | None = None) -> builtins.list[bytes]:  # not the method `list`
        """The bytes of a finished job's outputs (`list[bytes]`), or of the one named."""
        return self._run(flows.output_bytes(job, name))


class Models(Surface[Mode]):
    def __init__(self, run: Callable[..., Any]) -> None:
        self._run = run

    @answers
    def list(self) -> list[ModelSummary]:
        """Every model the service serves (`list[ModelSummary]`)."""
        return self._run(flows.list_models())

    @answers
    def get(self, name: str, version: int | str | None = None) -> ModelSummary | Manifest:
        """A model and its versions (`ModelSummary`), or with `version` that version's `Manifest`."""
        return self._run(flows.get_model(name) if version is None else flows.model_version(name, version))

    @answers
    def upload(self, name: str, onnx: str | Path | bytes, manifest: dict[str, Any] | str | Path, *,
               timeout: float | None = 300.0) -> Manifest:
        """Register an ONNX file (a path or its bytes) as the next version of `name`; `manifest` (a
        dict or a JSON file) gives its task and signature. Answers the registered `Manifest` once the
        service has checked it; a mismatch is a ValidationFailed naming it."""
        return self._run(flows.upload_model(name, onnx, manifest, timeout))

    @answers
    def import_checkpoint(self, name: str, checkpoint: str | Path | bytes, checkpoint_b: str | Path | bytes | None = None,
                          *, format: str, options: dict[str, Any] | None = None,
                          timeout: float | None = 600.0) -> Manifest:
        """Import another project's checkpoint (a path or its bytes; `checkpoint_b`: a CycleGAN's B->A
        generator) as the next version of `name`. `format` is realesrgan, basicsr, junyanz,
        pytorch-examples-dcgan or stylegan2-pytorch; `options` are what the shapes do not decide
        (e.g. {"netG": "unet_256"}) and `promote` ("first" or "always"). Answers the registered
        `Manifest`; a checkpoint that does not fit is a ValidationFailed naming the tensors."""
        return self._run(flows.import_checkpoint(name, checkpoint, checkpoint_b, format, options, timeout))

    @answers
    def set_alias(self, name: str, alias: str, version: int) -> dict[str, int]:
        """Point `alias` (e.g. `prod`, `latest`) at a version; answers the model's aliases."""
        return self._run(flows.set_alias(name, alias, version))

    @answers
    def delete(self, name: str, version: int) -> None:
        """Delete a version (refused with Conflict while an alias points at it)."""
        return self._run(flows.delete_version(name, version))

    @answers
    def download(self, name: str, version: int | str = "latest") -> bytes:
        """The version's ONNX file (`bytes`)."""
        return self._run(flows.download_model(name, version))


class Datasets(Surface[Mode]):
    def __init__(self, run: Callable[..., Any]) -> None:
        self._run = run

    @answers
    def upload(self, path: str | Path, *, layout: str | None = None, name: str | None = None) -> Dataset:
        """Upload a folder (zipped for you) or a zip/tar archive (`Dataset`). The layout (images,
        classes, unpaired, paired) is guessed from the paths when not given."""
        return self._run(flows.upload_dataset(path, layout, name))

    @answers
    def list(self) -> list[Dataset]:
        return self._run(flows.list_datasets())

    @answers
    def get(self, dataset_id: str) -> Dataset:
        return self._run(flows.get_dataset(dataset_id))

    @answers
    def delete(self, dataset_id: str) -> None:
        return self._run(flows.delete_dataset(dataset_id))


class Api(Surface[Mode]):
    """Operations shared by Client and AsyncClient; `_run` is theirs."""

    idempotency: bool
    progress: bool
    jobs: Jobs[Mode]
    models: Models[Mode]
    datasets: Datasets[Mode]

    def _attach(self) -> None:
        self.jobs = Jobs(self._run)
        self.models = Models(self._run)
        self.datasets = Datasets(self._run)

    def _key(self, idempotency_key: str | bool | None) -> str | bool:
        """An explicit key, or a fresh one per call unless the client turned them off."""
        if idempotency_key is None:
            return self.idempotency
        return idempotency_key

    @answers
    def generate(self, model: str, n: int = 1, *, seed: int | None = None, labels: list[int] | int | None = None,
                 truncation: float | None = None, truncation_psi: float | None = None,
                 style_mixing: StyleMixing | dict[str, int] | None = None, noise_mode: str | None = None,
                 interpolate: Interpolation | dict[str, Any] | None = None, codes: dict[str, float] | None = None,
                 format: str = "png", quality: int | None = None, grid: bool = False, webhook: str | None = None,
                 webhook_events: list[str] | None = None, timeout: float | None = 300.0,
                 idempotency_key: str | bool | None = None) -> list[Image.Image]:
        """Images from noise (`list[PIL.Image]`; each image's `info["job_id"]` names its job).

        The parameters are POST /generate's, by the same names: `truncation_psi`, `style_mixing`
        (`StyleMixing(seed=11, crossover=4)` or the same dict) and `noise_mode` for style models,
        `codes` for InfoGAN models, `interpolate` (`Interpolation(to_seed=11, frames=8)`) for a walk
        from `seed`, whose answer is the frames and then the animation. n=1, or `grid=True` (all n
        images in one picture), is one request answered with the picture itself; more images come
        back inline in the job's JSON."""
        return self._run(flows.generate(
            model, n=n, timeout_s=timeout, idempotency_key=self._key(idempotency_key), seed=seed, labels=labels,
            truncation=truncation, truncation_psi=truncation_psi, style_mixing=style_mixing, noise_mode=noise_mode,
            interpolate=interpolate, codes=codes, format=format, quality=quality, grid=grid, webhook=webhook,
            webhook_events=webhook_events,
        ))

    @answers
    def translate(self, image: ImageInput, model: str, *, direction: str = "a2b", format: str = "png",
                  resize: str = "scale", timeout: float | None = 300.0,
                  idempotency_key: str | bool | None = None) -> Image.Image:
        """An image through an image-to-image model (`PIL.Image`)."""
        return self._run(flows.translate(image, model, direction=direction, format=format, resize=resize,
                                         timeout_s=timeout, idempotency_key=self._key(idempotency_key)))

    @answers
    def upscale(self, image: ImageInput, model: str = "sr-x4", *, outscale: float | None = None,
                tile: int | None = None, tile_overlap: int | None = None, format: str = "png",
                timeout: float | None = 300.0, idempotency_key: str | bool | None = None) -> Image.Image:
        """Super-resolution of one image (`PIL.Image`)."""
        return self._run(flows.upscale(image, model, outscale=outscale, tile=tile, tile_overlap=tile_overlap,
                                       format=format, timeout_s=timeout, idempotency_key=self._key(idempotency_key)))

    @answers
    def train(self, architecture: str, dataset: str, model_name: str, *, steps: int | None = None,
              epochs: int | None = None, image_size: int | None = None, seed: int | None = None,
              hyperparameters: dict[str, Any] | None = None, checkpoint_every: int | None = None,
              sample_every: int | None = None, follow: bool = True, progress: bool | None = None,
              timeout: float | None = None, idempotency_key: str | bool | None = None,
              **fields: Any) -> Manifest | Job:
        """Train a model. With `follow` (default) it follows the job's event stream with a progress
        bar and answers the registered version's `Manifest`; without, the queued `Job`. Other
        fields of POST /train (e.g. `promote`, `resume_from`) pass through as keyword arguments."""
        return self._run(flows.train(
            architecture, dataset, model_name, follow=follow, progress=self.progress if progress is None else progress,
            timeout_s=timeout, idempotency_key=self._key(idempotency_key), steps=steps, epochs=epochs,
            image_size=image_size, seed=seed, hyperparameters=hyperparameters, checkpoint_every=checkpoint_every,
            sample_every=sample_every, **fields,
        ))

    @answers
    def evaluate(self, model: str, *, dataset: str | None = None, n_samples: int | None = None,
                 extractor: str | None = None, seed: int | None = None, wait: bool = True,
                 timeout: float | None = None, idempotency_key: str | bool | None = None) -> Job:
        """FID, KID, precision/recall of a model version; with `wait` the finished `Job` (figures in
        `job.metrics`), else the queued one."""
        return self._run(flows.evaluate(model, dataset=dataset, n_samples=n_samples, extractor=extractor, seed=seed,
                                        wait=wait, timeout_s=timeout, idempotency_key=self._key(idempotency_key)))
