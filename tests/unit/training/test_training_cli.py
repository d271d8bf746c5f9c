"""`python -m training`: every family from one command line, through the same recipe as POST /train,
and the zoo's table."""

import pytest

from training.__main__ import main, parser
from training.families import FAMILIES
from training.zoo import ZOO


def test_cli_dry_run_trains_exports_and_registers(tmp_path):
    store = tmp_path / "store"
    args = ["cdcgan", "--dataset", "digits", "--base-features", "4", "--latent-dim", "4"]
    args += ["--model-name", "digits-cdcgan", "--store", str(store), "--state-dir", str(tmp_path / "state"), "--dry-run"]
    assert main(args) == 0
    assert not store.exists()  # a dry run registers into a throwaway store


def test_cli_registers_a_version_with_provenance(tmp_path):
    from models.store import ModelStore

    args = ["cdcgan", "--dataset", "digits", "--steps", "2", "--seed", "7", "--base-features", "4"]
    args += ["--latent-dim", "4", "--batch-size", "16", "--model-name", "digits-cdcgan", "--store", str(tmp_path)]
    args += ["--state-dir", str(tmp_path / "state")]
    assert main(args) == 0
    manifest = ModelStore(tmp_path).resolve("digits-cdcgan")
    assert manifest.version == 1 and manifest.architecture == "cdcgan_generator" and manifest.task == "generate"
    assert manifest.signature.class_names == [str(c) for c in range(10)]
    assert manifest.signature.inputs == ["z", "labels"] and manifest.signature.image_size == 8
    assert manifest.provenance.seed == 7 and manifest.provenance.steps == 2 and manifest.provenance.dataset == "digits"
    assert manifest.provenance.command == "python -m training " + " ".join(args)
    assert manifest.provenance.hyperparameters["lr_g"] == 2e-4
    assert manifest.parity_max_abs_diff <= 1e-4
    assert (tmp_path / "digits-cdcgan" / "1" / "model.onnx").is_file()


def test_every_family_has_a_subcommand_with_its_hyperparameters_as_flags():
    for name, family in FAMILIES.items():
        args = parser().parse_args([name, "--dataset", "d", "--model-name", "m", "--store", "s"])
        assert args.family == name
        assert all(hasattr(args, field) for field in family.hyperparameters.model_fields)


def test_hyperparameters_are_validated_like_a_training_request(tmp_path):
    args = ["wgan-gp", "--dataset", "digits", "--d-norm", "batch", "--model-name", "m", "--store", str(tmp_path)]
    with pytest.raises(SystemExit, match="d_norm"):
        main(args + ["--state-dir", str(tmp_path / "state")])


def test_the_zoo_table_names_every_bundled_model_once():
    # the four models `make zoo` made before the table, first and in their order; later families add theirs
    assert list(ZOO)[:4] == ["mnist-cdcgan", "sr-x4", "edges2digits-pix2pix", "thin2bold-cyclegan"]
    assert all(name == model.name for name, model in ZOO.items())
    with pytest.raises(SystemExit, match="unknown zoo model"):
        main(["zoo", "no-such-model"])


def test_a_zoo_dry_run_makes_a_bundled_model_into_a_throwaway_store(tmp_path):
    store = tmp_path / "zoo"
    assert main(["zoo", "edges2digits-pix2pix", "--store", str(store), "--dry-run"]) == 0
    assert not store.exists()
