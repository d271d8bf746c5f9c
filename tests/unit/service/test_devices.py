"""GPU listing and figures through NVML (service/core/devices.py) and a worker's device record
(workers/devices.py). No GPU here: NVML is a stand-in module with nvidia-ml-py's calls, so the
code path a GPU worker takes runs; the figures themselves are only real on a GPU machine."""

import sys
from types import SimpleNamespace

import pytest

from service.core import devices
from service.core.settings import Settings
from workers.devices import WorkerDevice, worker_device

GIB = 2**30


class FakeNvml:
    """nvidia-ml-py's functions that service/core/devices.py calls, over two H100s."""

    def __init__(self):
        self.gpus = [(b"GPU-aaaa-0", b"NVIDIA H100 80GB HBM3", 10 * GIB, 37), ("GPU-bbbb-1", "NVIDIA H100 80GB HBM3", 0, 0)]

    def nvmlInit(self):
        pass

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        if index >= len(self.gpus):
            raise RuntimeError("NVML_ERROR_INVALID_ARGUMENT")
        return index

    def nvmlDeviceGetIndex(self, handle):
        return handle

    def nvmlDeviceGetUUID(self, handle):
        return self.gpus[handle][0]

    def nvmlDeviceGetName(self, handle):
        return self.gpus[handle][1]

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(used=self.gpus[handle][2], total=80 * GIB, free=80 * GIB - self.gpus[handle][2])

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=self.gpus[handle][3], memory=0)


@pytest.fixture
def nvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml())
    monkeypatch.setattr(devices._Nvml, "_tried", False)
    monkeypatch.setattr(devices._Nvml, "_module", None)
    yield
    devices._Nvml._tried, devices._Nvml._module = False, None


def test_nvml_lists_the_gpus_and_cuda_visible_devices_narrows_them(nvml):
    assert devices.physical_gpus() == [devices.Gpu(0, "GPU-aaaa-0", "NVIDIA H100 80GB HBM3"),
                                       devices.Gpu(1, "GPU-bbbb-1", "NVIDIA H100 80GB HBM3")]
    assert devices.visible_gpus({}) == ["0", "1"]
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": "1"}) == ["1"]
    assert devices.visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []


def test_gpu_figures_by_index_or_uuid(nvml):
    first, second = devices.gpu_figures(["0", "GPU-bbbb"])
    assert first == {"index": 0, "uuid": "GPU-aaaa-0", "name": "NVIDIA H100 80GB HBM3", "utilization": 0.37,
                     "memory_used_bytes": 10 * GIB, "memory_total_bytes": 80 * GIB}
    assert second["index"] == 1 and second["utilization"] == 0.0


def test_a_pinned_gpu_worker_reports_its_gpus_memory(nvml):
    figures = WorkerDevice("cuda:0 NVIDIA H100 80GB HBM3", gpu="0", cuda_index=0, visible=["0"]).figures()
    assert figures["memory"] == {"of": "gpu", "used_bytes": 10 * GIB, "total_bytes": 80 * GIB}
    assert [g["uuid"] for g in figures["gpus"]] == ["GPU-aaaa-0"] and figures["process_rss_bytes"] > 0


def test_without_nvml_there_are_no_gpu_figures_and_a_gpu_worker_says_why(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed: import fails
    monkeypatch.setattr(devices._Nvml, "_tried", False)
    monkeypatch.setattr(devices._Nvml, "_module", None)
    assert devices.gpu_figures(["0"]) == []
    memory = WorkerDevice("cuda:0 GPU 0", gpu="0", cuda_index=0, visible=["0"]).figures()["memory"]
    assert memory["used_bytes"] is None and "nvidia-ml-py" in memory["note"]
    devices._Nvml._tried, devices._Nvml._module = False, None


def test_a_cpu_worker_names_the_cpu_and_its_memory(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    settings = Settings(device="auto", ort_providers="auto")
    training = worker_device(settings, ["training"])
    assert training.about() == {"device": "cpu"}
    inference = worker_device(settings, ["inference"])
    assert inference.about()["device"] == "cpu" and "CPUExecutionProvider" in inference.about()["providers"]
    memory = training.figures()["memory"]
    assert memory["of"] == "host" and 0 < memory["used_bytes"] < memory["total_bytes"]
