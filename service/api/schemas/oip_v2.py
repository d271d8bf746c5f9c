"""Open Inference Protocol v2 (KServe / Triton) REST bodies: metadata, infer request and response."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ServerMetadata(BaseModel):
    name: str = Field(description="Server name.", examples=["ganforge"])
    version: str = Field(description="Server version.", examples=["0.1.0"])
    extensions: list[str] = Field(description="Protocol extensions served.", examples=[["binary_tensor_data"]])


class MetadataTensor(BaseModel):
    name: str = Field(description="Tensor name.", examples=["z"])
    datatype: str = Field(description="Protocol datatype: FP32, INT64, UINT8, ….", examples=["FP32"])
    shape: list[int] = Field(description="Shape; -1 is a dimension of any size (the first is the batch).",
                             examples=[[-1, 64]])


class ModelMetadata(BaseModel):
    name: str = Field(description="Model name.", examples=["mnist-cdcgan"])
    versions: list[str] = Field(description="Versions of the model that can be named.", examples=[["1", "2"]])
    platform: str = Field(description="What runs it.", examples=["onnxruntime_onnx"])
    inputs: list[MetadataTensor] = Field(description="Input tensors.",
                                         examples=[[{"name": "z", "datatype": "FP32", "shape": [-1, 64]}]])
    outputs: list[MetadataTensor] = Field(
        description="Output tensors: the network's FP32 output (NCHW) and the same pixels as UINT8 images "
        "(NHWC, `<output>_uint8`).",
        examples=[[{"name": "images", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]],
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Version, task and, for translators, the directions a request may name.",
        examples=[{"version": "1", "task": "generate"}],
    )


class InferInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="Input tensor name.", examples=["z"])
    shape: list[int] = Field(description="Shape of this tensor.", examples=[[2, 64]])
    datatype: str = Field(description="Protocol datatype.", examples=["FP32"])
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_size`: the tensor's bytes follow the JSON header (binary extension).",
        examples=[{"binary_data_size": 512}],
    )
    data: list[Any] | None = Field(None, description="Row-major values, flat or nested; absent when sent as binary.",
                                   examples=[[0.1, -0.3]])


class RequestedOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(description="Output tensor name.", examples=["images_uint8"])
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data: true` answers its bytes after the JSON header.", examples=[{"binary_data": True}]
    )


class InferRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = Field(None, description="Echoed in the response.", examples=["req-7"])
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_output: true` answers every output as binary; `direction` picks a "
        "translator's direction (default a2b); `timeout` (seconds) bounds the wait.",
        examples=[{"binary_data_output": False}],
    )
    inputs: list[InferInput] = Field(description="Input tensors.",
                                     examples=[[{"name": "labels", "shape": [2], "datatype": "INT64", "data": [3, 7]}]])
    outputs: list[RequestedOutput] | None = Field(None, description="Outputs to answer; all when absent.",
                                                  examples=[[{"name": "images"}]])


class InferOutput(BaseModel):
    name: str = Field(description="Output tensor name.", examples=["images"])
    shape: list[int] = Field(description="Shape of this tensor.", examples=[[2, 1, 28, 28]])
    datatype: str = Field(description="Protocol datatype.", examples=["FP32"])
    parameters: dict[str, Any] | None = Field(None, description="`binary_data_size` when sent as binary.",
                                              examples=[{"binary_data_size": 6272}])
    data: list[Any] | None = Field(None, description="Flat row-major values, unless sent as binary.",
                                   examples=[[0.0, -0.98]])


class InferResponse(BaseModel):
    model_name: str = Field(description="Model name.", examples=["mnist-cdcgan"])
    model_version: str = Field(description="The version that ran.", examples=["1"])
    id: str | None = Field(None, description="The request's id.", examples=["req-7"])
    parameters: dict[str, Any] | None = Field(None, description="The GANForge job that ran it.",
                                              examples=[{"job_id": "5b0c8c5e2f8e4b1c9a7d3e2f1a0b9c8d"}])
    outputs: list[InferOutput] = Field(description="Output tensors.", examples=[[]])
