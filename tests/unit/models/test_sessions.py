"""Opening ONNX Runtime sessions in one place: providers, threads and input shapes."""

import numpy as np
import pytest
import torch

from models.export import write_onnx
from models.inference.sessions import (
    choose_providers,
    input_shapes,
    open_session,
    usable_cores,
)


@pytest.fixture(scope="module")
def doubler(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "doubler.onnx"

    class Double(torch.nn.Module):
        def forward(self, image):
            return image * 2

    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height", min=2), 3: torch.export.Dim("width", min=2)}
    write_onnx(Double(), {"image": torch.zeros(2, 3, 5, 6)}, ["doubled"], {"image": dims}, path)
    return path


def test_a_session_runs_on_the_cpu_by_default_with_the_threads_asked_for(doubler):
    session = open_session(doubler, threads=1)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.get_session_options().intra_op_num_threads == 1
    assert session.get_session_options().inter_op_num_threads == 1
    (out,) = session.run(None, {"image": np.ones((1, 3, 4, 4), np.float32)})
    assert np.array_equal(out, np.full((1, 3, 4, 4), 2, np.float32))


def test_zero_threads_means_every_usable_core(doubler):
    assert open_session(doubler).get_session_options().intra_op_num_threads == usable_cores()


def test_dynamic_axes_get_the_batch_and_the_side_asked_for(doubler):
    assert input_shapes(open_session(doubler), 4, 16) == {"image": ([4, 3, 16, 16], np.float32)}


def test_providers_auto_falls_back_to_the_cpu_and_a_missing_one_is_refused():
    assert choose_providers("auto")[-1] == "CPUExecutionProvider"
    assert choose_providers(" CPUExecutionProvider ") == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeError, match="NoSuchExecutionProvider"):
        choose_providers("NoSuchExecutionProvider")
