"""POST /models/{name}/versions (its manifest part) and PUT /models/{name}/aliases/{alias}."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from models.manifest import (
    GeneratorSignature,
    Provenance,
    Signature,
    Task,
    TranslatorSignature,
)

SIGNATURE_OF_TASK = {"generate": "generator", "translate": "translator", "upscale": "upscaler"}


class UploadManifest(BaseModel):
    """What an uploaded version says about its ONNX file; the registry adds name, version and digest."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "task": "generate",
        "signature": {"kind": "generator", "latent_dim": 64, "num_classes": 0, "image_size": 28, "channels": 1,
                      "inputs": ["z"], "output": "images"},
    }]})

    task: Task = Field(description="What the model does.", examples=["generate"])
    signature: Signature = Field(description="How to call the ONNX file; its `kind` must fit the task "
                                 "(generate: generator, translate: translator, upscale: upscaler).",
                                 examples=[{"kind": "generator", "latent_dim": 64, "image_size": 28, "channels": 1,
                                            "inputs": ["z"], "output": "images"}])
    architecture: str = Field("uploaded", description="A name for the network, for people.", examples=["my-dcgan"])
    config: dict[str, Any] = Field(default_factory=dict, description="Anything that describes how it was built.",
                                   examples=[{"base_features": 32}])
    provenance: Provenance = Field(
        default_factory=lambda: Provenance(trainer="uploaded", dataset="unknown", seed=0, steps=0),
        description="Where the weights came from.", examples=[{"trainer": "dcgan", "dataset": "faces", "seed": 0, "steps": 20000}],
    )
    metrics: dict[str, Any] = Field(default_factory=dict, description="Quality figures, by name.",
                                    examples=[{"fid": 12.3}])
    aliases: list[str] = Field(["latest"], description="Aliases to point at the new version once it is registered.",
                               examples=[["latest"]])

    @model_validator(mode="after")
    def _fits(self) -> "UploadManifest":
        kind = self.signature.kind
        if SIGNATURE_OF_TASK[self.task] != kind:
            raise ValueError(f"a {self.task} model needs a {SIGNATURE_OF_TASK[self.task]} signature, not {kind}")
        signature = self.signature
        if isinstance(signature, GeneratorSignature):
            if getattr(signature, "style", None) is not None or getattr(signature, "codes", None):
                raise ValueError("style-based and InfoGAN generators cannot be uploaded yet; export a z [+ labels] "
                                 "generator")
            if signature.inputs not in (["z"], ["z", "labels"]):
                raise ValueError(f"a generator's inputs are ['z'] or ['z', 'labels'], not {signature.inputs}")
            if ("labels" in signature.inputs) != (signature.num_classes > 0):
                raise ValueError("give the input 'labels' exactly when num_classes > 0")
            if signature.class_names and len(signature.class_names) != signature.num_classes:
                raise ValueError(f"{len(signature.class_names)} class_names for {signature.num_classes} classes")
        if isinstance(signature, TranslatorSignature):
            if set(signature.directions) != {"a2b"} or signature.directions["a2b"].onnx_file != "model.onnx":
                raise ValueError("an uploaded translator has one direction, 'a2b', in the uploaded file "
                                 "(onnx_file 'model.onnx')")
        return self


class AliasRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: StrictInt = Field(ge=1, description="The version the alias is to point at.", examples=[2])


class ModelAliases(BaseModel):
    name: str = Field(description="Model name.", examples=["my-faces"])
    aliases: dict[str, int] = Field(description="Alias -> version, after the change.", examples=[{"latest": 2, "prod": 1}])
