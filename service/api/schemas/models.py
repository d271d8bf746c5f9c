"""GET /models."""

from pydantic import BaseModel, Field

from models.manifest import Manifest


class ModelSummary(BaseModel):
    name: str = Field(description="Model name.", examples=["mnist-cdcgan"])
    versions: list[int] = Field(description="Versions, oldest first.", examples=[[1, 2]])
    aliases: dict[str, int] = Field(description="Alias -> version.", examples=[{"latest": 2}])
    latest: Manifest = Field(description="Manifest of the version `latest` points at.",
                             examples=[{"name": "mnist-cdcgan", "version": 1, "task": "generate"}])


class ModelList(BaseModel):
    models: list[ModelSummary] = Field(description="Every model, by name.", examples=[[]])
