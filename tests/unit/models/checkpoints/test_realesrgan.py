"""The realesrgan format: Real-ESRGAN's RRDBNet (x4plus, x2plus, anime 6B) and SRVGGNetCompact
checkpoints, saved as Real-ESRGAN saves them, computed as the reference networks compute
(tests/sr_references.py) to 1e-4 in fp32, through ONNX too, and through the worker's tiling."""

import numpy as np
import pytest
import torch
from sr_references import (
    ATOL,
    image,
    max_diff,
    realesrganer,
    rrdbnet_state,
    saved,
    srvgg_forward,
    srvgg_state,
)

from models.checkpoints.base import Checkpoint, CheckpointRejected
from models.checkpoints.realesrgan import convert
from models.inference.sessions import open_session
from models.inference.upscale import onnx_runner, upscale_pixels
from models.upscaler_export import export_upscaler


@pytest.mark.parametrize("scale, blocks", [(4, 2), (2, 1), (1, 1)])
def test_rrdbnet_equals_the_reference_at_each_scale(tmp_path, scale, blocks):
    """x4plus; x2plus and x1 read a pixel-unshuffled input, odd sides reflect-padded as
    Real-ESRGAN's inference pads them."""
    state = rrdbnet_state(scale=scale, blocks=blocks)
    conversion = convert([saved(tmp_path, {"params_ema": state}, "RealESRGAN.pth")], {})
    assert conversion.task == "upscale" and conversion.architecture == "rrdbnet"
    assert conversion.config == {"channels": 3, "features": 8, "blocks": blocks, "growth": 4, "scale": scale,
                                 "upsampler": "nearest"}
    assert conversion.signature.scale == scale
    for height, width in [(12, 8), (13, 7)]:
        x = image(height, width)
        assert max_diff(conversion, realesrganer(state, x, scale), x) <= ATOL


def test_anime_six_blocks_and_params_when_there_is_no_ema(tmp_path):
    state = rrdbnet_state(blocks=6, features=4, growth=2)
    conversion = convert([saved(tmp_path, {"params": state}, "RealESRGAN_x4plus_anime_6B.pth")], {})
    assert conversion.config["blocks"] == 6
    x = image()
    assert max_diff(conversion, realesrganer(state, x, 4), x) <= ATOL


@pytest.mark.parametrize("convs, scale", [(3, 4), (2, 2)])
def test_srvgg_compact_equals_the_reference(tmp_path, convs, scale):
    state = srvgg_state(convs=convs, scale=scale)
    conversion = convert([saved(tmp_path, state, "realesr-general-x4v3.safetensors")], {})
    assert conversion.architecture == "srvggnet_compact"
    assert conversion.config == {"channels": 3, "features": 8, "convs": convs, "scale": scale,
                                 "activation": "prelu"}
    x = image(11, 9)
    assert max_diff(conversion, srvgg_forward(state, x, scale), x) <= ATOL


def test_srvgg_without_slopes_needs_act_type(tmp_path):
    state = srvgg_state(prelu=False)
    with pytest.raises(CheckpointRejected, match="no PReLU slopes.*act_type=relu"):
        convert([Checkpoint("x.pth", {"params": state})], {})
    conversion = convert([Checkpoint("x.pth", {"params": state})], {"act_type": "leakyrelu"})
    x = image()
    assert max_diff(conversion, srvgg_forward(state, x, 4, "leakyrelu"), x) <= ATOL
    with pytest.raises(CheckpointRejected, match="act_type='gelu' is not one of"):
        convert([Checkpoint("x.pth", {"params": state})], {"act_type": "gelu"})


def test_general_x4v3_and_its_wdn_twin_blend_by_denoise_strength(tmp_path):
    """Real-ESRGAN's dni: strength * x4v3 + (1 - strength) * wdn, the twin told by its name
    whatever the order sent."""
    general, weak = srvgg_state(convs=2, seed=3), srvgg_state(convs=2, seed=4)
    files = [saved(tmp_path, {"params": weak}, "realesr-general-wdn-x4v3.pth"),
             saved(tmp_path, {"params": general}, "realesr-general-x4v3.pth")]
    x = image()
    for options, strength in (({"denoise_strength": 0.3}, 0.3), ({}, 0.5)):
        conversion = convert(files, options)
        blended = {k: strength * general[k] + (1 - strength) * weak[k] for k in general}
        assert max_diff(conversion, srvgg_forward(blended, x, 4), x) <= ATOL
        assert any(f"denoise_strength {strength:g}" in note for note in conversion.notes)
    assert max_diff(convert(files, {"denoise_strength": 1}), srvgg_forward(general, x, 4), x) <= ATOL


def test_blend_refusals():
    general = Checkpoint("realesr-general-x4v3.pth", {"params": srvgg_state(convs=2)})
    with pytest.raises(CheckpointRejected, match="denoise_strength.*send both files"):
        convert([general], {"denoise_strength": 0.5})
    with pytest.raises(CheckpointRejected, match="denoise_strength=1.5 must be a number from 0 to 1"):
        convert([general, general], {"denoise_strength": 1.5})
    wider = Checkpoint("realesr-general-wdn-x4v3.pth", {"params": srvgg_state(convs=3)})
    with pytest.raises(CheckpointRejected, match=r"wdn-x4v3\.pth must have the tensors of realesr-general-x4v3\.pth.*unexpected tensors: body\.7"):
        convert([general, wider], {})
    rrdb = Checkpoint("RealESRGAN_x4plus.pth", {"params_ema": rrdbnet_state()})
    with pytest.raises(CheckpointRejected, match="RealESRGAN_x4plus.pth is not one"):
        convert([rrdb, rrdb], {})


@pytest.mark.parametrize("make", [lambda: rrdbnet_state(scale=2, blocks=1), lambda: srvgg_state(convs=2)],
                         ids=["rrdbnet-x2", "srvgg"])
def test_onnx_export_keeps_parity(tmp_path, make):
    conversion = convert([Checkpoint("x.pth", {"params_ema": make()})], {})
    parity = export_upscaler(conversion.networks["generator"], conversion.signature, tmp_path / "model.onnx")
    assert parity <= ATOL


def test_a_tiled_x4_upscale_equals_the_whole_image_reference(tmp_path):
    """The served path at a multi-tile size: ONNX Runtime through the worker's tiling (3 x 3 tiles of
    32 px with 24 px of context, beyond one block's receptive radius) against the reference network
    on the whole image, within uint8 rounding."""
    state = rrdbnet_state(blocks=1)
    conversion = convert([Checkpoint("RealESRGAN_x4plus.pth", {"params_ema": state})], {})
    path = tmp_path / "model.onnx"
    export_upscaler(conversion.networks["generator"], conversion.signature, path)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (72, 80, 3), dtype=np.uint8)
    served, tiles = upscale_pixels(onnx_runner(open_session(path), conversion.signature), pixels, 4,
                                   model_channels=3, tile=32, overlap=24)
    assert tiles == 9 and served.shape == (288, 320, 3)
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        reference = realesrganer(state, x, 4).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255
    assert np.abs(served.astype(np.float64) - reference).max() <= 1.0


def test_missing_and_misshaped_tensors_are_named():
    state = rrdbnet_state()
    del state["body.1.rdb2.conv3.weight"]
    with pytest.raises(CheckpointRejected, match=r"missing tensors: body\.1\.rdb2\.conv3\.weight"):
        convert([Checkpoint("x.pth", {"params_ema": state})], {})
    state = srvgg_state(convs=3)
    state["body.5.weight"] = torch.zeros(7)
    with pytest.raises(CheckpointRejected, match=r"body\.5\.weight \(7,\) \(expected \(8,\)\)"):
        convert([Checkpoint("x.pth", {"params": state})], {})


def test_shapes_that_decide_nothing_sensible_are_refused():
    state = rrdbnet_state()
    state["conv_first.weight"] = torch.zeros(8, 9, 3, 3)
    with pytest.raises(CheckpointRejected, match=r"conv_first\.weight reads 9 channels.*3 \(x4\), 12 \(x2"):
        convert([Checkpoint("x.pth", {"params_ema": state})], {})
    state = srvgg_state(convs=2)
    state["body.6.weight"], state["body.6.bias"] = torch.zeros(20, 8, 3, 3), torch.zeros(20)
    with pytest.raises(CheckpointRejected, match=r"body\.6\.weight makes 20 channels"):
        convert([Checkpoint("x.pth", {"params": state})], {})


def test_other_layouts_and_options_are_refused():
    with pytest.raises(CheckpointRejected, match=r"expected conv_first\.weight.*first tensors are main\.0\.weight"):
        convert([Checkpoint("x.pth", {"params": {"main.0.weight": torch.zeros(1)}})], {})
    with pytest.raises(CheckpointRejected, match="act_type applies to SRVGGNetCompact"):
        convert([Checkpoint("x.pth", rrdbnet_state())], {"act_type": "prelu"})
    with pytest.raises(CheckpointRejected, match="no option outscale"):
        convert([Checkpoint("x.pth", rrdbnet_state())], {"outscale": 3})
    with pytest.raises(CheckpointRejected, match="not tensors: iter"):
        convert([Checkpoint("x.pth", {"iter": 5, "weights": torch.zeros(1)})], {})
