"""`make run`'s processes (service/local/plan.py): a training worker per GPU, each pinned, or one
on the CPU (more with GANFORGE_TRAINING_WORKERS), the inference workers on GPU 0; the GPU listing
they stand on (service/core/devices.py); and /metrics' GPU gauges from the workers' records."""

import pytest

from service.api.metrics import gpu_gauges
from service.core.devices import Gpu, parse_nvidia_smi, select_visible
from service.core.settings import Settings
from service.local.plan import PlanError, WorkerSpec, worker_plan
from service.local.stack import worker_command

ON_CPU = {"CUDA_VISIBLE_DEVICES": "", "GANFORGE_DEVICE": "cpu", "GANFORGE_ORT_PROVIDERS": "CPUExecutionProvider"}


def pinned(gpu: str) -> dict[str, str]:
    return {"CUDA_VISIBLE_DEVICES": gpu, "GANFORGE_DEVICE": "cuda:0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def by_name(plan: list[WorkerSpec]) -> dict[str, WorkerSpec]:
    return {spec.name: spec for spec in plan}


def settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def test_a_cpu_machine_runs_one_training_worker_of_one_job_beside_the_inference_workers():
    plan = by_name(worker_plan(settings(worker_concurrency=8, heavy_concurrency=1), []))
    assert list(plan) == ["inference", "inference-heavy", "training-0"]
    assert (plan["inference"].queues, plan["inference"].concurrency, plan["inference"].pool) == ("inference", 8, "threads")
    assert (plan["inference-heavy"].queues, plan["inference-heavy"].concurrency) == ("inference-heavy", 1)
    training = plan["training-0"]
    assert (training.queues, training.concurrency, training.prefetch_multiplier) == ("training", 1, 1)
    assert all(spec.env == ON_CPU for spec in plan.values())


def test_more_training_workers_on_the_cpu_are_each_a_process_of_their_own():
    plan = worker_plan(settings(training_workers=3), [])
    training = [spec for spec in plan if spec.queues == "training"]
    assert [spec.name for spec in training] == ["training-0", "training-1", "training-2"]
    assert all(spec.concurrency == 1 and spec.env == ON_CPU for spec in training)
    commands = [worker_command(queues=s.queues, concurrency=s.concurrency, name=s.name, pool=s.pool,
                               prefetch_multiplier=s.prefetch_multiplier) for s in training]
    for spec, command in zip(training, commands):
        assert command[command.index("-P") + 1] == "threads" and command[command.index("-c") + 1] == "1"
        assert command[command.index("--prefetch-multiplier") + 1] == "1"
        assert command[command.index("-n") + 1] == f"{spec.name}@%h"  # distinct Celery node names


def test_two_gpus_pin_a_training_worker_to_each_and_inference_to_gpu_0():
    plan = by_name(worker_plan(settings(), ["0", "1"]))
    assert list(plan) == ["inference", "inference-heavy", "training-0", "training-1"]
    assert plan["training-0"].env == pinned("0") and plan["training-1"].env == pinned("1")
    assert plan["inference"].env == plan["inference-heavy"].env == pinned("0")
    assert all(plan[n].concurrency == 1 for n in ("training-0", "training-1"))


def test_more_training_workers_than_gpus_share_them_round_robin():
    plan = worker_plan(settings(training_workers=3), ["0", "1"])
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in plan if s.queues == "training"] == ["0", "1", "0"]


def test_cuda_visible_ids_pass_through_as_the_pins():
    plan = by_name(worker_plan(settings(), ["2", "GPU-abc"]))
    assert plan["training-0"].env["CUDA_VISIBLE_DEVICES"] == "2"
    assert plan["training-1"].env["CUDA_VISIBLE_DEVICES"] == "GPU-abc"
    assert plan["inference"].env["CUDA_VISIBLE_DEVICES"] == "2"


def test_settings_choose_otherwise():
    # trainings on the CPU of a GPU machine; inference stays on GPU 0
    plan = by_name(worker_plan(settings(device="cpu"), ["0", "1"]))
    assert plan["training-0"].env == ON_CPU and "training-1" not in plan
    assert plan["inference"].env == pinned("0")
    # inference on the CPU, or on the second GPU
    assert by_name(worker_plan(settings(inference_device="cpu"), ["0"]))["inference"].env == ON_CPU
    assert by_name(worker_plan(settings(inference_device="cuda:1"), ["0", "1"]))["inference"].env == pinned("1")
    # every training worker on one GPU
    plan = worker_plan(settings(device="cuda:1", training_workers=2), ["0", "1"])
    assert [s.env for s in plan if s.queues == "training"] == [pinned("1"), pinned("1")]
    # GANFORGE_GPUS: none, or a list of its own
    assert all(s.env == ON_CPU for s in worker_plan(settings(gpus="none"), ["0", "1"]))
    plan = by_name(worker_plan(settings(gpus="1"), ["0", "1"]))
    assert plan["training-0"].env == plan["inference"].env == pinned("1") and "training-1" not in plan
    # explicit ONNX Runtime providers are kept on the CPU
    assert "GANFORGE_ORT_PROVIDERS" not in worker_plan(settings(ort_providers="CPUExecutionProvider"), [])[0].env


def test_a_device_the_machine_lacks_is_refused_before_anything_starts():
    with pytest.raises(PlanError, match="no GPU"):
        worker_plan(settings(device="cuda"), [])
    with pytest.raises(PlanError, match="2 GPU"):
        worker_plan(settings(device="cuda:2"), ["0", "1"])
    with pytest.raises(PlanError, match="no GPU"):
        worker_plan(settings(inference_device="cuda:0"), [])


def test_nvidia_smi_listing_and_cuda_visible_devices():
    listing = ("GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-11111111-aaaa)\n"
               "  MIG 1g.10gb     Device  0: (UUID: MIG-22222222)\n"
               "GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-33333333-bbbb)\n")
    gpus = parse_nvidia_smi(listing)
    assert gpus == [Gpu(0, "GPU-11111111-aaaa", "NVIDIA H100 80GB HBM3"), Gpu(1, "GPU-33333333-bbbb", "NVIDIA H100 80GB HBM3")]
    assert select_visible(gpus, None) == ["0", "1"]
    assert select_visible(gpus, "1") == ["1"]
    assert select_visible(gpus, "1,0") == ["1", "0"]
    assert select_visible(gpus, "GPU-3333") == ["GPU-3333"]
    assert select_visible(gpus, "0,7,1") == ["0"]  # CUDA stops at the first id that names no GPU
    assert select_visible(gpus, "") == [] and select_visible(gpus, "-1") == []
    assert select_visible([], None) == [] and select_visible([], "0") == []


def test_gpu_gauges_are_absent_without_a_gpu_and_one_per_gpu_with_them():
    assert gpu_gauges([]) == []
    cpu_workers = [{"id": "h:1", "host": "h", "queues": ["training"], "gpus": []},
                   {"id": "h:2", "host": "h", "queues": ["inference"]}]
    assert gpu_gauges(cpu_workers) == []
    gpu = {"index": 0, "uuid": "GPU-1", "name": "NVIDIA H100 80GB HBM3", "utilization": 0.5,
           "memory_used_bytes": 10, "memory_total_bytes": 80}
    other = {**gpu, "index": 1, "uuid": "GPU-2", "utilization": 0.0}
    workers = [{"id": "h:1", "host": "h", "gpus": [gpu]}, {"id": "h:2", "host": "h", "gpus": [gpu]},  # both on GPU 0
               {"id": "h:3", "host": "h", "gpus": [other]}]
    families = {f.name: f for f in gpu_gauges(workers)}
    assert set(families) == {"ganforge_gpu_utilization_ratio", "ganforge_gpu_memory_used_bytes",
                             "ganforge_gpu_memory_total_bytes"}
    samples = families["ganforge_gpu_utilization_ratio"].samples
    assert [(s.labels["gpu"], s.value) for s in samples] == [("0", 0.5), ("1", 0.0)]
    assert samples[0].labels == {"host": "h", "gpu": "0", "uuid": "GPU-1", "name": "NVIDIA H100 80GB HBM3"}
