"""The shared training loop on a toy net: callbacks, phases, learning rates, checkpoints, the
moving average, resume, and batch-norm recalibration."""

import copy

import numpy as np
import pytest
import torch
from pydantic import BaseModel
from torch import nn

from training.trainers.loop import StepReport, TrainingLoop, recalibrate_batchnorm
from training.trainers.schedule import Phase, phase_at, training_phases


class ToyConfig(BaseModel):
    steps: int = 6
    seed: int = 0
    checkpoint_every: int = 0


def toy_run(config: ToyConfig, checkpoint_dir=None, ema_decay: float = 0.5, **callbacks):
    """A dropout net trained by the loop; answers (loop, outcome, the learning rate each step saw)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(net.parameters(), lr=1.0)
    loop = TrainingLoop(config, {"generator": net}, {"opt": optimizer}, callbacks, checkpoint_dir=checkpoint_dir,
                        generator="generator", ema_decay=ema_decay,
                        learning_rates=lambda step: {"opt": 0.1 / (1 + step)},
                        phases=training_phases(config.steps, ("warmup", 0), ("main", 2)))
    rates = []

    def train_step(step: int) -> StepReport:
        rates.append(optimizer.param_groups[0]["lr"])
        x = torch.linspace(-1, 1, 12).reshape(4, 3) + step
        loss = net(x).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return StepReport({"loss": loss.item()}, len(x))

    return loop, loop.run(train_step), rates


def state(module: nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in module.state_dict().values()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_progress_callbacks_that_take_a_phase_get_it_and_plain_ones_still_work():
    phased, plain = [], []

    def progress(step, total, losses, images_per_sec, *, phase):
        phased.append((step, total, phase))

    toy_run(ToyConfig(), progress_fn=progress)
    assert [step for step, _, _ in phased] == [1, 2, 3, 4, 5, 6] and {t for _, t, _ in phased} == {6}
    assert [p.name for _, _, p in phased] == ["warmup"] * 2 + ["main"] * 4
    assert phased[0][2] == Phase("warmup", 0, 2) and phased[-1][2] == Phase("main", 2, 6)

    _, outcome, _ = toy_run(ToyConfig(), progress_fn=lambda *args: plain.append(args))
    assert [len(args) for args in plain] == [4] * 6  # step, total, losses, images_per_sec: no phase
    step, total, losses, images_per_sec = plain[-1]
    assert (step, total) == (6, 6) and losses == outcome.losses and images_per_sec > 0


def test_learning_rates_are_set_before_each_step():
    _, _, rates = toy_run(ToyConfig(steps=4))
    assert rates == pytest.approx([0.1, 0.05, 0.1 / 3, 0.025])


def test_checkpoint_fn_sees_every_save_including_the_one_at_an_abort(tmp_path):
    saved, asked = [], []
    _, outcome, _ = toy_run(ToyConfig(steps=10, checkpoint_every=2), tmp_path,
                            checkpoint_fn=lambda step, stem: saved.append((step, stem)),
                            abort_fn=lambda: asked.append(1) or len(asked) > 3)
    assert outcome.aborted and outcome.step == 3
    assert [step for step, _ in saved] == [2, 3]
    assert saved[-1][1].name == "step-00000003" and saved[-1][1].with_suffix(".json").is_file()


def test_a_resumed_run_with_dropout_and_an_average_matches_an_uninterrupted_one(tmp_path):
    config = ToyConfig(steps=6, checkpoint_every=2)
    whole, _, _ = toy_run(config)
    calls = iter([False] * 3 + [True])
    toy_run(config, tmp_path, abort_fn=lambda: next(calls))
    resumed, outcome, rates = toy_run(config, tmp_path)
    assert outcome.step == 6 and len(rates) == 3  # only the steps left were run
    assert same(state(whole.averaged), state(resumed.averaged))
    assert same(state(whole.generator), state(resumed.generator))
    assert not same(state(whole.averaged), state(whole.generator))  # the average is not the raw weights


def test_sample_fn_gets_the_averaged_generator_or_what_the_trainer_names():
    sampled = []
    loop, _, _ = toy_run(ToyConfig(steps=2), sample_fn=lambda step, nets: sampled.append((step, nets)))
    assert [step for step, _ in sampled] == [1, 2] and all(nets is loop.averaged for _, nets in sampled)
    assert loop.averaged is loop.ema.module
    plain, _, _ = toy_run(ToyConfig(steps=1), ema_decay=0.0)
    assert plain.averaged is plain.generator


def test_the_loop_leaves_the_callers_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    toy_run(ToyConfig(steps=3))
    assert torch.equal(torch.rand(3), expected)


def test_an_unknown_callback_is_refused():
    with pytest.raises(TypeError, match="progress"):
        toy_run(ToyConfig(), progress=lambda *args: None)


def test_phases_leave_out_empty_stretches():
    assert training_phases(5) == [Phase("train", 0, 5)]
    assert training_phases(5, ("pretrain", 0), ("gan", 0)) == [Phase("gan", 0, 5)]
    assert training_phases(5, ("pretrain", 0), ("gan", 5)) == [Phase("pretrain", 0, 5)]
    assert training_phases(0, ("pretrain", 0), ("gan", 0)) == [Phase("pretrain", 0, 0)]
    phases = training_phases(10, ("pretrain", 0), ("gan", 4))
    assert [phase_at(phases, s).name for s in (0, 3, 4, 9, 12)] == ["pretrain", "pretrain", "gan", "gan", "gan"]


def test_batchnorm_recalibration_is_seeded_even_through_dropout():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 6), nn.Dropout(0.5), nn.BatchNorm1d(6, momentum=0.3))
    inputs = torch.randn(50, 4)

    def batches(rng: torch.Generator) -> tuple[torch.Tensor]:
        return (inputs[torch.randint(len(inputs), (8,), generator=rng)],)

    first, second = copy.deepcopy(net), copy.deepcopy(net)
    torch.manual_seed(1)
    expected = torch.rand(2)
    torch.manual_seed(1)
    recalibrate_batchnorm(first, batches, seed=3)
    assert torch.equal(torch.rand(2), expected)  # the caller's random state is untouched
    recalibrate_batchnorm(second, batches, seed=3)
    assert same(state(first), state(second))
    norm = first[2]
    assert not first.training and norm.momentum == 0.3 and int(norm.num_batches_tracked) == 20
    assert not np.allclose(norm.running_mean.numpy(), 0)  # statistics were measured, not left at the reset


def test_the_sr_trainer_reports_its_pretrain_then_its_gan_phase():
    from training.trainers.super_resolution import SRConfig, train_sr

    config = SRConfig(features=4, blocks=1, scale=2, patch_size=8, batch_size=1, steps=3, pretrain_fraction=0.34,
                      d_features=4, ema_decay=0.0)
    photo = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    seen = []
    train_sr(config, [photo], progress_fn=lambda step, total, losses, rate, phase: seen.append((phase.name, set(losses))))
    assert seen == [("pretrain", {"l1"})] + [("gan", {"l1", "feature", "g_gan", "d"})] * 2
