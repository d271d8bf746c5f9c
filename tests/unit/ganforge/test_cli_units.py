"""The CLI's own logic, without a server: --hp and --codes pairs, the job table's ids, the
missing-key hint (issue 27, item 5)."""

import io
from datetime import UTC, datetime

import pytest
from ganforge.cli import (
    _hyperparameters,
    _interpolation,
    _job_table,
    build_parser,
    key_hint,
)
from ganforge.types import Job
from rich.console import Console


def test_hp_takes_several_pairs_and_repeats():
    args = build_parser().parse_args(["train", "dcgan", "--dataset", "digits", "--hp", "lr=2e-4", "batch_size=16",
                                      "--hp", "ema=true", "--steps", "5"])
    assert _hyperparameters(args.hp) == {"lr": 2e-4, "batch_size": 16, "ema": True}
    assert args.steps == 5  # the pairs end where the next option starts
    with pytest.raises(Exception, match="KEY=VALUE"):
        _hyperparameters([["lr"]])


def test_generate_options_parse_into_the_api_shapes():
    args = build_parser().parse_args(["generate", "fashion-stylegan2", "--truncation-psi", "0.5", "--style-mixing",
                                      "11", "4", "--codes", "category=3", "continuous_0=0.8", "--json"])
    assert args.truncation_psi == 0.5 and args.style_mixing == [11, 4] and args.json
    assert args.codes == [["category=3", "continuous_0=0.8"]]


def test_job_ids_are_never_cut_at_80_columns():
    jobs = [Job(id=f"{i:032x}", kind="train", status="running", model={"name": "a-rather-long-model-name", "version": 12},
                created_at=datetime(2026, 12, 7, 21, 3, tzinfo=UTC), progress={"step": 1200, "total": 20000})
            for i in range(3)]
    console = Console(file=io.StringIO(), width=80, color_system=None)
    console.print(_job_table(jobs))
    text = console.file.getvalue()
    for job in jobs:
        assert job.id in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_the_missing_key_hint_names_the_variable(monkeypatch):
    monkeypatch.delenv("GANFORGE_API_KEY", raising=False)
    assert "GANFORGE_API_KEY" in key_hint(None)
    monkeypatch.setenv("GANFORGE_API_KEY", "gfk_x")
    assert "$GANFORGE_API_KEY was refused" in key_hint(None)
    assert "--api-key" in key_hint("gfk_y")


def test_walk_options_without_a_walk_are_a_usage_error():
    args = build_parser().parse_args(["generate", "fashion-stylegan2", "--frames", "4"])
    with pytest.raises(Exception, match="--interpolate"):
        _interpolation(args)
    walk = _interpolation(build_parser().parse_args(["generate", "m", "--interpolate", "9", "--space", "z"]))
    assert walk.model_dump(exclude_none=True) == {"to_seed": 9, "space": "z"}
