"""The device and precision policy (training/trainers/device.py), and the DCGAN-shaped families
trained through it on the CPU device in bf16 and fp16: finite losses, a checkpoint that resumes in
another precision, an export that passes the ONNX parity check."""

import math

import pytest
import torch
from test_trainer import tiny_config, tiny_dataset

from models.architectures import build
from models.manifest import Provenance
from models.store import ModelStore
from training.recipes.publish import publish_generator
from training.trainers.checkpoints import latest_checkpoint, load_checkpoint
from training.trainers.dcgan import network_specs, train_dcgan
from training.trainers.device import (
    CompiledOrEager,
    Runtime,
    resolve_device,
    resolve_precision,
)
from training.trainers.losses import gradient_penalty

# Each DCGAN-shaped family by what makes it: its loss, its critic, its extras.
FAMILIES = {
    "dcgan": {"conditional": False},
    "cdcgan": {"conditional": True},
    "wgan_gp": {"conditional": False, "loss": "wgan_gp", "gp_lambda": 10.0, "d_norm": "layer", "critic_steps": 2},
    "sagan": {"conditional": False, "loss": "hinge", "spectral_norm": True, "self_attention": True, "d_norm": "none"},
    "diffaugment": {"conditional": False, "diffaugment": "color,translation,cutout"},
}


def test_auto_means_the_cpu_here_and_fp32_on_it():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("bf16", torch.device("cpu")) == "bf16"


@pytest.mark.parametrize("setting", ["tpu", "cuda:x", "gpu"])
def test_an_unknown_device_is_named(setting):
    with pytest.raises(ValueError, match="device"):
        resolve_device(setting)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda:0")


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("int8", torch.device("cpu"))


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_computes_in_the_asked_precision_and_fp16_alone_scales(precision):
    runtime = Runtime.for_run("cpu", precision)
    layer = torch.nn.Linear(4, 4)
    with runtime.autocast():
        out = layer(torch.ones(2, 4))
    assert out.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert layer.weight.dtype == torch.float32  # the weights stay fp32
    assert runtime.scaler.is_enabled() == (precision == "fp16")


def test_input_gradients_are_unscaled_under_fp16():
    """The AMP recipe for penalties: the gradient of the scaled output, divided by the scale."""
    x = torch.randn(3, 5, requires_grad=True)
    weights = torch.randn(5)
    plain = torch.autograd.grad((x @ weights).sum(), x)[0]
    runtime = Runtime.for_run("cpu", "fp16")
    assert runtime.scaler.get_scale() > 1  # the loss really is scaled
    (unscaled,) = runtime.input_gradients(x @ weights, x)
    torch.testing.assert_close(unscaled, plain)


def test_the_gradient_penalty_is_the_same_under_the_fp16_scaler():
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 1))
    real, fake = torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4)

    def penalty(runtime):
        rng = torch.Generator().manual_seed(0)
        return gradient_penalty(critic, real, fake, weight=10.0, generator=rng, runtime=runtime)

    plain = penalty(Runtime.for_run("cpu", "fp32"))
    scaled = penalty(Runtime.for_run("cpu", "fp16"))
    assert abs(plain.item() - scaled.item()) < 0.05 * plain.item() + 1e-3  # fp16 rounding, not a 65536x error


def test_compile_falls_back_to_eager_when_the_compiler_fails():
    def failing_backend(graph, example_inputs):
        raise RuntimeError("no C++ compiler here")

    forward = CompiledOrEager(torch.nn.Linear(2, 2), backend=failing_backend)
    out = forward(torch.ones(1, 2))
    assert out.shape == (1, 2) and "no C++ compiler here" in forward.fallback_reason
    assert forward.in_features == 2  # attributes reach the module


def test_a_run_asking_for_compile_gets_a_compiled_forward():
    assert isinstance(Runtime.for_run("cpu", "fp32", compile=True).compiled(torch.nn.Linear(2, 2)), CompiledOrEager)
    plain = torch.nn.Linear(2, 2)
    assert Runtime.for_run("cpu", "fp32").compiled(plain) is plain
    normalised = torch.nn.utils.parametrizations.spectral_norm(torch.nn.Linear(2, 2))
    assert Runtime.for_run("cpu", "fp32", compile=True).compiled(normalised) is normalised


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
@pytest.mark.parametrize("family", FAMILIES)
def test_each_dcgan_family_trains_in_mixed_precision_resumes_in_fp32_and_exports(tmp_path, family, precision):
    data = tiny_dataset(size=16)
    seen = []
    config = tiny_config(steps=2, checkpoint_every=1, precision=precision, **FAMILIES[family])
    train_dcgan(config, data, checkpoint_dir=tmp_path, device="cpu", progress_fn=lambda *args: seen.append(args[2]))
    assert len(seen) == 2 and all(math.isfinite(v) for losses in seen for v in losses.values())

    # The checkpoint holds fp32 weights, whatever the arithmetic: it resumes in another precision.
    g_name, g_config, d_name, d_config = network_specs(config, data)
    probe = {"generator": build(g_name, **g_config), "discriminator": build(d_name, **d_config)}
    load_checkpoint(latest_checkpoint(tmp_path), probe, {})
    assert all(p.dtype == torch.float32 for net in probe.values() for p in net.parameters())

    resumed = train_dcgan(config.model_copy(update={"steps": 3, "precision": "fp32"}), data,
                          checkpoint_dir=tmp_path, device="cpu")
    assert resumed.step == 3 and all(math.isfinite(v) for v in resumed.losses.values())
    assert next(resumed.generator.parameters()).device.type == "cpu"

    manifest = publish_generator(resumed, ModelStore(tmp_path / "models"), "tiny",
                                 Provenance(trainer="test", dataset="tiny", seed=0, steps=3))
    assert manifest.parity_max_abs_diff < 1e-4


def test_a_dataset_kept_on_the_host_gives_the_batches_a_device_copy_would():
    from training.trainers.device import HostImages

    runtime = Runtime.for_run("cpu", "fp32")
    data = torch.randn(10, 1, 4, 4)
    host, resident = HostImages(data, runtime), runtime.images(data.numpy())
    index = torch.tensor([3, 1, 7])
    assert len(host) == 10 and host.shape == data.shape
    assert torch.equal(host[index], resident[index])
    assert resident.device == runtime.device


def test_fp16_resumes_with_the_loss_scale_it_had(tmp_path):
    from training.trainers.checkpoints import read_meta

    config = tiny_config(steps=2, checkpoint_every=2, precision="fp16", conditional=False)
    train_dcgan(config, tiny_dataset(size=16), checkpoint_dir=tmp_path)
    saved = read_meta(latest_checkpoint(tmp_path))["grad_scaler"]
    assert saved["scale"] > 0
    runtime = Runtime.for_run("cpu", "fp16")
    runtime.load_scaler_state(saved)
    assert runtime.scaler.get_scale() == saved["scale"]
