"""The basicsr format: BasicSR's MSRResNet and RRDBNet checkpoints, saved as BasicSR saves them,
computed as the reference networks compute (tests/sr_references.py) to 1e-4 in fp32."""

import pytest
import torch
from sr_references import (
    ATOL,
    image,
    max_diff,
    msrresnet_forward,
    msrresnet_state,
    rrdbnet_forward,
    rrdbnet_state,
    saved,
)

from models.checkpoints.base import Checkpoint, CheckpointRejected
from models.checkpoints.basicsr import convert
from models.upscaler_export import export_upscaler


@pytest.mark.parametrize("scale", [2, 4])
def test_msrresnet_equals_the_reference(tmp_path, scale):
    state = msrresnet_state(scale=scale, blocks=3)
    conversion = convert([saved(tmp_path, {"params": state})], {})
    assert conversion.task == "upscale" and conversion.architecture == "msrresnet"
    assert conversion.config == {"channels": 3, "features": 8, "blocks": 3, "scale": scale,
                                  "upsampler": "progressive", "global_residual": True}
    assert conversion.signature.scale == scale and conversion.signature.channels == 3
    x = image()
    assert max_diff(conversion, msrresnet_forward(state, x, scale), x) <= ATOL


def test_rrdbnet_from_safetensors_equals_the_reference(tmp_path):
    state = rrdbnet_state(blocks=2)
    conversion = convert([saved(tmp_path, state, "ESRGAN_SRx4.safetensors")], {})
    assert conversion.architecture == "rrdbnet" and conversion.signature.scale == 4
    assert conversion.config["blocks"] == 2 and conversion.config["growth"] == 4
    x = image()
    assert max_diff(conversion, rrdbnet_forward(state, x, 4), x) <= ATOL


def esrgan_arch_names(state: dict) -> dict:
    """BasicSR's RRDBNet names -> the ESRGAN repository's RRDBNet_arch.py names."""
    plain = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}
    out = {}
    for key, tensor in state.items():
        module, param = key.rsplit(".", 1)
        if key.startswith("body."):
            _, block, rdb, conv, param = key.split(".")
            out[f"RRDB_trunk.{block}.RDB{rdb[3:]}.{conv}.{param}"] = tensor
        else:
            out[f"{plain.get(module, module)}.{param}"] = tensor
    return out


def esrgan_sequential_names(state: dict, blocks: int) -> dict:
    """BasicSR's RRDBNet names -> the ESRGAN repository's first-release Sequential names."""
    plain = {"conv_first": "model.0", "conv_body": f"model.1.sub.{blocks}", "conv_up1": "model.3",
             "conv_up2": "model.6", "conv_hr": "model.8", "conv_last": "model.10"}
    out = {}
    for key, tensor in state.items():
        module, param = key.rsplit(".", 1)
        if key.startswith("body."):
            _, block, rdb, conv, param = key.split(".")
            out[f"model.1.sub.{block}.RDB{rdb[3:]}.{conv}.0.{param}"] = tensor
        else:
            out[f"{plain[module]}.{param}"] = tensor
    return out


@pytest.mark.parametrize("layout", ["RRDBNet_arch", "sequential"])
def test_esrgan_repository_checkpoints_equal_the_reference(tmp_path, layout):
    """RRDB_ESRGAN_x4.pth as the ESRGAN repository saves it (a flat state dict), in both its layouts."""
    state = rrdbnet_state(blocks=2, seed=4)
    renamed = esrgan_arch_names(state) if layout == "RRDBNet_arch" else esrgan_sequential_names(state, 2)
    conversion = convert([saved(tmp_path, renamed, "RRDB_ESRGAN_x4.pth")], {})
    assert conversion.architecture == "rrdbnet" and conversion.config["blocks"] == 2
    x = image()
    assert max_diff(conversion, rrdbnet_forward(state, x, 4), x) <= ATOL
    del renamed["model.8.bias" if layout == "sequential" else "HRconv.bias"]
    with pytest.raises(CheckpointRejected, match=r"ESRGAN repository RRDBNet.*missing tensors: conv_hr\.bias"):
        convert([Checkpoint("RRDB_ESRGAN_x4.pth", renamed)], {})


def test_the_ema_weights_are_read_first_and_param_key_picks(tmp_path):
    ema, plain = msrresnet_state(seed=1), msrresnet_state(seed=2)
    checkpoint = saved(tmp_path, {"params": plain, "params_ema": ema})
    x = image()
    with torch.no_grad():
        by_default = convert([checkpoint], {}).networks["generator"](x)
        picked = convert([checkpoint], {"param_key": "params"}).networks["generator"](x)
    assert (by_default - msrresnet_forward(ema, x, 4)).abs().max() <= ATOL
    assert (picked - msrresnet_forward(plain, x, 4)).abs().max() <= ATOL


def test_exported_msrresnet_keeps_parity(tmp_path):
    conversion = convert([Checkpoint("net_g.pth", {"params": msrresnet_state(scale=2)})], {})
    parity = export_upscaler(conversion.networks["generator"], conversion.signature, tmp_path / "model.onnx")
    assert parity <= ATOL


def test_a_missing_tensor_is_named(tmp_path):
    state = msrresnet_state(blocks=3)
    del state["body.1.conv2.bias"], state["body.2.conv1.weight"]  # the last block's too: it still counts
    with pytest.raises(CheckpointRejected, match=r"missing tensors: body\.1\.conv2\.bias, body\.2\.conv1\.weight$"):
        convert([Checkpoint("net_g.pth", {"params": state})], {})


def test_a_misshaped_tensor_is_named_with_its_shapes():
    state = rrdbnet_state()
    state["body.1.rdb3.conv5.weight"] = torch.zeros(8, 20, 3, 3)
    with pytest.raises(CheckpointRejected, match=r"body\.1\.rdb3\.conv5\.weight \(8, 20, 3, 3\) \(expected \(8, 24, 3, 3\)\)"):
        convert([Checkpoint("x.pth", {"params": state})], {})


def test_an_unexpected_tensor_is_named():
    state = msrresnet_state()
    state["upconv3.weight"] = torch.zeros(32, 8, 3, 3)
    with pytest.raises(CheckpointRejected, match=r"unexpected tensors: upconv3\.weight"):
        convert([Checkpoint("x.pth", state)], {})


def test_x3_msrresnet_is_refused_by_name():
    state = msrresnet_state(scale=2)
    state["upconv1.weight"], state["upconv1.bias"] = torch.zeros(72, 8, 3, 3), torch.zeros(72)
    with pytest.raises(CheckpointRejected, match=r"upconv1\.weight makes 72 channels.*not x3"):
        convert([Checkpoint("x.pth", state)], {})


def test_other_layouts_options_and_file_counts_are_refused():
    with pytest.raises(CheckpointRejected, match=r"expected upconv1\.weight.*first tensors are main\.0\.weight"):
        convert([Checkpoint("x.pth", {"main.0.weight": torch.zeros(1)})], {})
    with pytest.raises(CheckpointRejected, match="no option scale"):
        convert([Checkpoint("x.pth", msrresnet_state())], {"scale": 4})
    with pytest.raises(CheckpointRejected, match="param_key='params_ema'.*'params'"):
        convert([Checkpoint("x.pth", {"params": msrresnet_state()})], {"param_key": "params_ema"})
    with pytest.raises(CheckpointRejected, match="one file, not 2"):
        convert([Checkpoint("a.pth", msrresnet_state())] * 2, {})
    with pytest.raises(CheckpointRejected, match=r"conv_first\.weight \(8, 3\) is not a 3x3"):
        convert([Checkpoint("x.pth", {**msrresnet_state(), "conv_first.weight": torch.zeros(8, 3)})], {})
