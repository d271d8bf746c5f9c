"""ONNX Runtime sessions, one per model version per worker process, loaded once and warmed up.

Sessions are opened by models/inference/sessions.py (options, providers, threads); this module
keeps what only a worker needs: the cache, warm-up, I/O binding and the batcher.
"""

import logging
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import onnxruntime as ort

from models.inference.sessions import CUDA, input_shapes, open_session
from models.manifest import Manifest
from workers.batcher import DynamicBatcher, infer_within_memory

log = logging.getLogger(__name__)


def example_feeds(session: ort.InferenceSession, spatial_size: int) -> dict[str, np.ndarray]:
    """Zeros for every input: batch 1, dynamic image sides at `spatial_size`."""
    return {name: np.zeros(shape, dtype) for name, (shape, dtype) in input_shapes(session, 1, spatial_size).items()}


def warm_up(session: ort.InferenceSession, manifest: Manifest) -> None:
    """One tiny run so the first request does not pay for allocation and kernel selection."""
    session.run(None, example_feeds(session, manifest.signature.image_size))


def device_of(session: ort.InferenceSession) -> str | None:
    """'cuda' when the session runs on a GPU, where I/O binding pays; None on the CPU."""
    return "cuda" if session.get_providers()[0] == CUDA else None


def run_bound(session: ort.InferenceSession, feeds: dict[str, np.ndarray], output: str, device: str) -> np.ndarray:
    """One run through I/O binding: inputs copied to the device once, the output allocated there
    by ONNX Runtime and copied back once, instead of through its per-call staging."""
    binding = session.io_binding()
    for name, array in feeds.items():
        binding.bind_cpu_input(name, np.ascontiguousarray(array))
    binding.bind_output(output, device)
    session.run_with_iobinding(binding)
    return binding.copy_outputs_to_cpu()[0]


class LoadedModel:
    """A warmed-up session, called through a batcher unless batching is off (max batch 1)."""

    def __init__(self, manifest: Manifest, session: ort.InferenceSession, *, max_batch_size: int,
                 max_delay_ms: float, device: str | None = None):
        self.manifest = manifest
        self.session = session
        # The graph's own output name: a version may carry graphs with different outputs (a style
        # model's mapping network answers 'w').
        self.output = session.get_outputs()[0].name
        self.device = device if device is not None else device_of(session)
        self.batcher = (
            DynamicBatcher(self.infer, max_batch_size=max_batch_size, max_delay_ms=max_delay_ms, name=manifest.ref)
            if max_batch_size > 1
            else None
        )

    def infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """One ONNX Runtime run of exactly these rows."""
        if self.device is None:
            return self.session.run([self.output], feeds)[0]
        return run_bound(self.session, feeds, self.output, self.device)

    def run(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
        """Output rows for the request, and the number of images in the largest run it was part of."""
        if self.batcher is None:
            images = infer_within_memory(self.infer, feeds)
            return images, len(images)
        return self.batcher.run(feeds)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()


class SessionCache:
    """Least-recently-used loaded models keyed by model version and ONNX file (a version may
    carry several, one per direction)."""

    def __init__(self, *, threads: int, providers: list[str], max_batch_size: int, max_delay_ms: float,
                 fp16: str = "cuda", capacity: int = 8):
        self.threads = threads
        self.fp16 = fp16
        self.providers = providers
        self.max_batch_size = max_batch_size
        self.max_delay_ms = max_delay_ms
        self.capacity = capacity
        self._models: OrderedDict[tuple[str, int, str, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, manifest: Manifest, path: Path) -> LoadedModel:
        key = (manifest.name, manifest.version, manifest.onnx_sha256, path.name)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
            path = self.encoding_of(manifest, path)
            session = open_session(path, threads=self.threads, providers=self.providers, shares_cores=True)
            warm_up(session, manifest)
            log.info("loaded %s (%s) on %s", manifest.ref, path.name, session.get_providers()[0])
            model = LoadedModel(
                manifest, session, max_batch_size=self.max_batch_size, max_delay_ms=self.max_delay_ms
            )
            self._models[key] = model
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)[1].close()
            return model

    def encoding_of(self, manifest: Manifest, path: Path) -> Path:
        """The fp16 variant instead of model.onnx where the policy says so: 'cuda' (on a GPU,
        where half precision is fast), 'always', or 'off'."""
        variant = manifest.variants.get("fp16")
        wanted = self.fp16 == "always" or (self.fp16 == "cuda" and self.providers[0] == CUDA)
        return path.with_name(variant) if variant and wanted and path.name == manifest.onnx_file else path
