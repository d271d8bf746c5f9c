"""Where and in what arithmetic a run trains, decided once for the run and threaded from the top.

A worker owns one device (`GANFORGE_DEVICE`: auto, cpu, cuda or cuda:N); a run's
hyperparameters choose its precision and whether to compile. `Runtime.for_run` turns the two
into one object that every trainer asks, instead of looking devices up deep in helpers:

- `runtime.device`, `runtime.generator(seed)`: where tensors and their random draws live. Noise
  is drawn on the device by a generator of the device, so no step waits on a host copy; a run
  is reproducible on the same kind of device (a CUDA run draws other numbers than a CPU run).
- `runtime.place(module)`: the module on the device, channels-last on CUDA where tensor cores
  want it; `runtime.compiled(module)`: torch.compile'd when asked, eager when compiling fails.
- `runtime.autocast()`, `runtime.minimize(loss, optimizer)`, `runtime.input_gradients(...)`: the
  mixed-precision recipe of PyTorch's AMP documentation. Forward passes and losses run under
  autocast (bf16 or fp16); weights and optimiser state stay fp32; fp16 scales its losses with a
  GradScaler (bf16 has fp32's range and needs none); a gradient penalty takes the gradients of
  the scaled output and unscales them before it is computed (the documented "gradient penalty"
  pattern), so a penalty never sees a scaled gradient. `runtime.end_step()` updates the scale once
  per iteration after every optimiser stepped, as the documentation prescribes for several
  optimisers.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(setting: str | torch.device) -> torch.device:
    """`auto` is the first CUDA device when torch sees one, else the CPU; `cuda` is `cuda:0`.
    ValueError names a device this process cannot use."""
    name = str(setting).strip().lower()
    if name == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"unknown device {setting!r}: use auto, cpu, cuda or cuda:N") from error
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise ValueError(f"device {setting!r} is not supported: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"device {setting!r} asked for, but torch sees no CUDA device")
    index = device.index or 0
    if index >= torch.cuda.device_count():
        raise ValueError(f"device {setting!r} asked for, but torch sees {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def resolve_precision(requested: str, device: torch.device) -> str:
    """`auto`: bf16 on a GPU that supports it, fp32 elsewhere (the CPU's bf16 is slower than fp32
    on most CPUs, so it is there only when asked for)."""
    if requested == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}: use auto, {', '.join(PRECISIONS)}")
    return requested


def describe_device(device: torch.device) -> str:
    """"cpu", or "cuda:0 NVIDIA H100 80GB HBM3": what a job's metrics say it trained on."""
    if device.type != "cuda":
        return "cpu"
    index = device.index or 0
    return f"cuda:{index} {torch.cuda.get_device_name(index)}"


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for a module without any)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


@dataclass
class Runtime:
    """One run's device and precision policy (see the module docstring)."""

    device: torch.device
    precision: str  # resolved: fp32, bf16 or fp16
    compile: bool = False
    scaler: torch.amp.GradScaler = field(init=False, repr=False)
    _stepped: set[int] = field(init=False, repr=False, default_factory=set)  # optimisers since the last update

    def __post_init__(self) -> None:
        # The default first scale (2**16) overflows fp16 in a gradient penalty's double backward and
        # loses the first steps to skipped updates; 2**12 starts inside the range, and the scaler
        # still grows it (x2 after 2,000 clean steps) where gradients are small.
        self.scaler = torch.amp.GradScaler(self.device.type, init_scale=2.0**12, enabled=self.precision == "fp16")
        if self.device.type == "cuda":
            # Convolution algorithms chosen by measurement once per shape: a GAN's shapes never change.
            torch.backends.cudnn.benchmark = True

    @classmethod
    def for_run(cls, device: str | torch.device = "cpu", precision: str = "auto", compile: bool = False) -> Runtime:
        resolved = resolve_device(device)
        return cls(resolved, resolve_precision(precision, resolved), compile)

    @classmethod
    def of(cls, config: Any, device: str | torch.device) -> Runtime:
        """The runtime of a run whose config carries `precision` and `compile` (TrainerOptions)."""
        return cls.for_run(device, getattr(config, "precision", "auto"), getattr(config, "compile", False))

    # -- where tensors live

    @property
    def channels_last(self) -> bool:
        # NHWC feeds the tensor cores without transposes; on the CPU it buys nothing measurable here.
        return self.device.type == "cuda"

    def describe(self) -> dict[str, str]:
        return {"device": describe_device(self.device), "precision": self.precision}

    def generator(self, seed: int) -> torch.Generator:
        """A random generator on the run's device, seeded."""
        return torch.Generator(device=self.device).manual_seed(seed)

    def place(self, module: nn.Module) -> nn.Module:
        """The module on the device (in place: an optimiser built on its parameters stays valid)."""
        if self.channels_last:
            return module.to(self.device, memory_format=torch.channels_last)
        return module.to(self.device)

    def images(self, array: Any) -> torch.Tensor | HostImages:
        """A batch or a whole dataset of images [N, C, H, W] on the device, as one tensor that
        batches are drawn from by index with no host copy per step. A dataset larger than
        DATASET_SHARE of the device's free memory stays in host memory instead (`HostImages`),
        each batch copied over as it is drawn."""
        tensor = torch.as_tensor(array)
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            if tensor.nbytes > DATASET_SHARE * free:
                return HostImages(tensor, self)
        return self.to_device(tensor)

    def to_device(self, tensor: torch.Tensor, non_blocking: bool = False) -> torch.Tensor:
        tensor = tensor.to(self.device, non_blocking=non_blocking)
        if self.channels_last and tensor.dim() == 4:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def compiled(self, module: nn.Module) -> Callable[..., Any]:
        """What a step calls for `module`'s forward pass: compiled when the run asks for it, except
        a module with spectral norm, whose power iteration updates its vectors in place on every
        call: called twice before one backward (real, then fake), the compiled backward finds its
        saved tensors changed, an error no eager fallback can catch, since it comes in backward."""
        if not self.compile:
            return module
        if any(parametrize.is_parametrized(m) for m in module.modules()):
            log.info("not compiling %s: it has parametrized (spectral-norm) layers", type(module).__name__)
            return module
        return CompiledOrEager(module)

    # -- precision

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.precision])

    def minimize(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """One optimiser update on `loss` (backward outside autocast, as AMP prescribes)."""
        if id(optimizer) in self._stepped:  # a second critic update in one step: the scaler wants an update between
            self.end_step()
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self._stepped.add(id(optimizer))

    def end_step(self) -> None:
        """Once per iteration, after every optimiser of the step stepped."""
        if self._stepped:
            self.scaler.update()
            self._stepped.clear()

    def input_gradients(self, outputs: torch.Tensor, inputs: torch.Tensor | tuple[torch.Tensor, ...]
                        ) -> tuple[torch.Tensor, ...]:
        """d(sum outputs)/d(inputs), with a graph for a penalty on them; unscaled under fp16.

        Under fp16 the scaled gradient of the *mean* is taken and multiplied back by the count:
        the sum's own gradient is the scale itself, which the scaler grows up to and past fp16's
        largest number (65,504), where every penalty would overflow."""
        inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
        if not self.scaler.is_enabled():
            return torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
        count = outputs.numel()
        grads = torch.autograd.grad(self.scaler.scale(outputs.sum() / count), inputs, create_graph=True)
        factor = count / self.scaler.get_scale()
        return tuple(grad * factor for grad in grads)

    def scaler_state(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler.is_enabled() else {}

    def load_scaler_state(self, state: dict[str, Any]) -> None:
        if state and self.scaler.is_enabled():
            self.scaler.load_state_dict(state)


# Of the device's free memory, what a training's dataset may take: the networks, their
# activations at the batch size and the optimiser state need the rest.
DATASET_SHARE = 0.25


class HostImages:
    """A dataset kept in host memory, indexed like a tensor: each batch is gathered on the host
    and copied to the device, from pinned memory and without blocking on CUDA, so the copy
    overlaps the step before it."""

    def __init__(self, images: torch.Tensor, runtime: Runtime):
        self.runtime = runtime
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> torch.Size:
        return self.images.shape

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        batch = self.images[index.cpu()]
        if self.runtime.device.type == "cuda":
            return self.runtime.to_device(batch.pin_memory(), non_blocking=True)
        return self.runtime.to_device(batch)


class CompiledOrEager:
    """A module's forward through torch.compile, falling back to the module itself, with the
    reason logged, when compiling or running the compiled graph fails (double backward, an
    unsupported op, no C++ compiler). Attribute lookups reach the module (generator.mapping)."""

    def __init__(self, module: nn.Module, backend: str | Callable[..., Any] = "inductor"):
        self.module = module
        self._compiled: Callable[..., Any] | None = torch.compile(module, backend=backend)
        self.fallback_reason: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._compiled is not None:
            try:
                return self._compiled(*args, **kwargs)
            except Exception as error:  # any failure of the compiler stack: train on, eagerly
                self.fallback_reason = f"{type(error).__name__}: {' '.join(str(error).split())[:400]}"
                log.warning("torch.compile failed for %s, running eagerly: %s", type(self.module).__name__,
                            self.fallback_reason)
                self._compiled = None
        return self.module(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)


def is_out_of_memory(error: BaseException) -> bool:
    """A CUDA allocation failure, or the CPU allocator's ("can't allocate memory")."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    message = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


def release_memory() -> None:
    """Free what a failed run left: its tensors (once nothing refers to them) and CUDA's cached
    blocks, so the next job on this worker starts from a clean allocator."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
