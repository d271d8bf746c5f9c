"""GET/POST /datasets: what a dataset holds, uploaded or built in."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Layout = Literal["images", "classes", "unpaired", "paired"]


class ClassCount(BaseModel):
    name: str = Field(description="Class (folder) or domain (A, B) name.", examples=["cat"])
    count: int | None = Field(description="Images in it; null where a built-in does not say.", examples=[500])


class SizeCount(BaseModel):
    width: int = Field(description="Width in pixels.", examples=[64])
    height: int = Field(description="Height in pixels.", examples=[64])
    count: int = Field(description="Images of this size.", examples=[1200])


class SourceArchive(BaseModel):
    filename: str | None = Field(description="File name the client gave the upload.", examples=["pets.zip"])
    format: Literal["zip", "tar"] = Field(description="Archive format, read from its bytes.", examples=["zip"])
    bytes: int = Field(description="Size of the uploaded archive.", examples=[1_482_113])


class DatasetInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Dataset id: a built-in's name, or 12 hex digits for an upload.", examples=["3f9a1c0b7d2e"])
    name: str | None = Field(description="Name given at upload (a built-in's own name).", examples=["pets"])
    builtin: bool = Field(description="True for datasets that ship with the service.", examples=[False])
    description: str | None = Field(None, description="What a built-in holds.", examples=[None])
    layout: Layout = Field(description="How the images are arranged (see POST /datasets).", examples=["classes"])
    num_images: int = Field(description="Images in the dataset (side-by-side pairs count once).", examples=[1200])
    classes: list[ClassCount] = Field(description="`classes` layout: each class, in label order.", examples=[[{"name": "cat", "count": 600}, {"name": "dog", "count": 600}]])
    domains: list[ClassCount] = Field(description="`unpaired`, and `paired` by name: images in A/ and B/.", examples=[[]])
    pairing: Literal["by-name", "side-by-side"] | None = Field(description="`paired`: how A and B go together.", examples=[None])
    num_pairs: int | None = Field(description="`paired`: number of (A, B) pairs.", examples=[None])
    sizes: list[SizeCount] = Field(description="Image sizes, most common first (up to 20).", examples=[[{"width": 64, "height": 64, "count": 1200}]])
    modes: dict[str, int] = Field(description="Pillow colour modes and how many images have each.", examples=[{"RGB": 1200}])
    bytes: int = Field(description="Bytes of the stored images (0 for built-ins).", examples=[5_120_000])
    created_at: str | None = Field(description="When it was uploaded (ISO 8601, UTC).", examples=["2025-05-01T12:00:00+00:00"])
    source: SourceArchive | None = Field(description="The uploaded archive.", examples=[{"filename": "pets.zip", "format": "zip", "bytes": 1482113}])
    ignored_files: list[str] = Field(description="Files in the archive that are not images and were not stored (first 100).", examples=[["pets/README.txt"]])
    preview_url: str = Field(description="A PNG contact sheet of the dataset.", examples=["/datasets/3f9a1c0b7d2e/preview.png"])


class DatasetList(BaseModel):
    datasets: list[DatasetInfo] = Field(description="Built-ins first, then uploads, oldest first.", examples=[[]])
