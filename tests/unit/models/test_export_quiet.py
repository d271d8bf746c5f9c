"""An ONNX export prints nothing a user cannot act on (issue 27, item 11): the dynamo exporter's
"torchvision is not installed" lines, four per export, are filtered at their logger; anything
else that logger says still shows."""

import logging

from models.architectures import build
from models.export import export_generator
from models.manifest import GeneratorSignature

REGISTRATION_LOGGER = "torch.onnx._internal.exporter._registration"


def test_an_export_logs_no_torchvision_notice_and_other_lines_still_pass(tmp_path, caplog):
    signature = GeneratorSignature(latent_dim=6, image_size=8, channels=1, inputs=["z"])
    generator = build("dcgan_generator", latent_dim=6, image_size=8, base_features=4)
    with caplog.at_level(logging.DEBUG):
        export_generator(generator, signature, tmp_path / "model.onnx")
        logging.getLogger(REGISTRATION_LOGGER).warning("torchvision is not installed. Skipping torchvision::nms")
        logging.getLogger(REGISTRATION_LOGGER).warning("another exporter notice")
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "torchvision is not installed" in m], messages
    assert "another exporter notice" in messages
