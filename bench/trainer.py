"""DCGAN trainer speed: steps/s of `train_dcgan` on mnist-5k for a few dozen steps.

Timed from the trainer's own progress callback, so the one-off work around the loop
(building modules, loading data, the final batch-norm recalibration) is reported apart.
"""

import time

from training.data.datasets import load_builtin
from training.trainers.dcgan import DCGANConfig, train_dcgan

WARMUP_STEPS = 3


def measure_training(*, steps: int, batch_size: int, base_features: int) -> dict:
    import torch

    dataset = load_builtin("mnist-5k")
    config = DCGANConfig(conditional=True, steps=steps, batch_size=batch_size, base_features=base_features)
    stamps: list[float] = []
    began = time.perf_counter()
    train_dcgan(config, dataset, progress_fn=lambda step, total, losses, ips: stamps.append(time.perf_counter()))
    total = time.perf_counter() - began
    timed = stamps[WARMUP_STEPS - 1 :]
    loop_s = timed[-1] - timed[0]
    steps_timed = len(timed) - 1
    return {
        "dataset": dataset.name,
        "config": {"steps": steps, "batch_size": batch_size, "base_features": base_features, "conditional": True,
                   "latent_dim": config.latent_dim, "ema_decay": config.ema_decay},
        "torch_threads": torch.get_num_threads(),
        "steps_timed": steps_timed,
        "warmup_steps_excluded": WARMUP_STEPS,
        "steps_per_s": steps_timed / loop_s,
        "images_per_s": steps_timed * batch_size / loop_s,
        "ms_per_step": loop_s * 1e3 / steps_timed,
        "wall_s_including_setup": total,
    }
