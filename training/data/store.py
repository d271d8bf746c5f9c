"""Datasets on disk: uploads checked and stored, listed beside the built-ins, loaded as arrays.

Layout under the root (ARTIFACTS_DIR/datasets, shared by the API and the workers):

    {id}/dataset.json      the record (counts, classes, sizes, where it came from)
    {id}/preview.png       a contact sheet
    {id}/files/...         the images, arranged canonically for the layout (dataset_layouts)

An upload is checked and built in `.staging-{random}/` and renamed to `{id}/` only when all of it
passed, so a reader never sees half a dataset and a refused upload leaves nothing behind.
"""

import json
import os
import re
import secrets
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from training.data import preview_grid
from training.data.archive_check import (
    ImageInfo,
    Limits,
    check_images,
    extract,
    list_entries,
)
from training.data.builtin_datasets import BuiltinDataset, builtin_datasets
from training.data.image_arrays import to_array
from training.data.layouts import (
    DOMAINS,
    LAYOUTS,
    Plan,
    check_side_by_side,
    plan_layout,
)

DATASET_ID = re.compile(r"^[0-9a-f]{12}$")
DATASET_NAME = re.compile(r"^[\w .()+-]{1,64}$")
_PREVIEW_PER_ROW = 8
_MAX_LISTED_IGNORED = 100


class UnknownDataset(LookupError):
    pass


class BuiltinReadOnly(PermissionError):
    pass


@dataclass
class DatasetRecord:
    id: str
    layout: str
    num_images: int
    name: str | None = None
    builtin: bool = False
    description: str | None = None
    created_at: str | None = None
    classes: list[dict] = field(default_factory=list)  # [{"name", "count"}], for `classes`
    domains: list[dict] = field(default_factory=list)  # [{"name": "A", "count"}], unpaired and paired by name
    pairing: str | None = None  # paired: "by-name" or "side-by-side"
    num_pairs: int | None = None
    sizes: list[dict] = field(default_factory=list)  # [{"width", "height", "count"}], most common first
    modes: dict[str, int] = field(default_factory=dict)  # Pillow mode -> images
    bytes: int = 0
    source: dict | None = None  # {"filename", "format", "bytes"} of the upload
    ignored_files: list[str] = field(default_factory=list)  # non-images in the archive, not stored

    @classmethod
    def from_builtin(cls, dataset: BuiltinDataset) -> "DatasetRecord":
        sizes = [{"width": dataset.native_size[0], "height": dataset.native_size[1], "count": dataset.num_images}] if dataset.native_size else []
        return cls(
            id=dataset.name, name=dataset.name, layout=dataset.layout, num_images=dataset.num_images, builtin=True,
            description=dataset.description, classes=[{"name": c, "count": None} for c in dataset.class_names],
            sizes=sizes, modes={"L" if dataset.channels == 1 else "RGB": dataset.num_images},
        )


def _summarize(plan: Plan, images: list[ImageInfo]) -> dict:
    tops = Counter(PurePosixPath(i.path).parts[0] for i in images if "/" in i.path)
    sizes = Counter((i.width, i.height) for i in images)
    summary = {
        "num_images": len(images),
        "sizes": [{"width": w, "height": h, "count": n} for (w, h), n in sizes.most_common(20)],
        "modes": dict(Counter(i.mode for i in images).most_common()),
        "pairing": plan.pairing,
    }
    if plan.layout == "classes":
        summary["classes"] = [{"name": c, "count": tops[c]} for c in plan.classes]
    elif plan.layout == "unpaired" or plan.pairing == "by-name":
        summary["domains"] = [{"name": d, "count": tops[d]} for d in DOMAINS]
    if plan.pairing:
        summary["num_pairs"] = tops["A"] if plan.pairing == "by-name" else len(images)
    return summary


def _spread(items: list, k: int) -> list:
    """Up to k items evenly spread over the list (deterministic, so a preview never changes)."""
    if len(items) <= k:
        return items
    return [items[i * len(items) // k] for i in range(k)]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


class DatasetStore:
    def __init__(self, root: Path, limits: Limits | None = None, builtins: dict[str, BuiltinDataset] | None = None):
        self.root = Path(root)
        self.limits = limits or Limits()
        self.builtins = builtin_datasets() if builtins is None else builtins

    # -- writing ------------------------------------------------------------------------------

    @classmethod
    def from_settings(cls, settings) -> "DatasetStore":
        """The store the API and the workers share, with the upload limits of `settings`: the
        datasets folder, or with GANFORGE_ARTIFACTS_URL the bucket (that folder then holds this
        host's copies)."""
        limits = Limits(
            max_files=settings.max_archive_files,
            max_total_bytes=settings.max_uncompressed_bytes,
            max_ratio=settings.max_compression_ratio,
            max_image_pixels=settings.max_image_pixels,
        )
        builtins = builtin_datasets(settings.fashion_mnist_dir)
        if getattr(settings, "artifacts_url", None):
            from models.artifacts import open_object_store
            from training.data.bucket_store import BucketDatasetStore

            objects = open_object_store(f"{settings.artifacts_url.rstrip('/')}/datasets",
                                        endpoint_url=settings.s3_endpoint_url)
            return BucketDatasetStore(settings.datasets_dir, objects, settings.dataset_cache_bytes, limits=limits,
                                      builtins=builtins)
        return cls(settings.datasets_dir, limits, builtins)

    def create(self, archive: Path, layout: str, name: str | None = None, filename: str | None = None) -> DatasetRecord:
        """Check `archive` and store it as a new dataset; raises ArchiveRejected (nothing kept)."""
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
        if name is not None and not DATASET_NAME.match(name):
            raise ValueError("name: 1 to 64 letters, digits, spaces and . ( ) + - _")
        self.root.mkdir(parents=True, exist_ok=True)
        self.sweep_leftovers()
        staging = Path(self.root / f".staging-{secrets.token_hex(8)}")
        staging.mkdir()
        try:
            fmt, entries = list_entries(archive, self.limits)
            plan = plan_layout(layout, entries)
            files = staging / "files"
            written = extract(archive, fmt, plan.files, files, self.limits)
            archive_names = {target: entry.path for target, entry in plan.files.items()}
            images = check_images(files, archive_names, self.limits)
            if plan.pairing == "side-by-side":
                check_side_by_side(images, archive_names)
            record = DatasetRecord(
                id=self._new_id(), name=name, layout=layout, bytes=written,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                source={"filename": filename, "format": fmt, "bytes": archive.stat().st_size},
                ignored_files=plan.ignored[:_MAX_LISTED_IGNORED], **_summarize(plan, images),
            )
            (staging / "preview.png").write_bytes(self._render_upload_preview(files, record))
            (staging / "dataset.json").write_text(json.dumps(asdict(record), indent=2))
            staging.rename(self.root / record.id)
            return record
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def sweep_leftovers(self, older_than_s: float = 3600) -> None:
        """Remove what a killed process left: staging folders, half deletions, stale uploads."""
        cutoff = time.time() - older_than_s
        leftovers = [*self.root.glob(".staging-*"), *self.root.glob(".deleting-*"), *self.root.glob(".uploads/*")]
        for path in leftovers:
            try:
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            except FileNotFoundError:
                continue  # another process swept it first

    def _new_id(self) -> str:
        while (self.root / (dataset_id := secrets.token_hex(6))).exists():
            pass
        return dataset_id

    def delete(self, ref: str) -> None:
        if ref in self.builtins:
            raise BuiltinReadOnly(f"{ref} is built in and cannot be deleted")
        folder = self._folder(ref)
        # Renamed first, so the dataset disappears at once and a reader never sees half of it.
        doomed = self.root / f".deleting-{ref}-{secrets.token_hex(4)}"
        folder.rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    # -- reading ------------------------------------------------------------------------------

    def _folder(self, ref: str) -> Path:
        folder = self.root / ref
        if not DATASET_ID.match(ref) or not (folder / "dataset.json").is_file():
            raise UnknownDataset(f"no dataset {ref!r}; built-in: {', '.join(self.builtins)}")
        return folder

    def get(self, ref: str) -> DatasetRecord:
        if ref in self.builtins:
            return DatasetRecord.from_builtin(self.builtins[ref])
        return DatasetRecord(**json.loads((self._folder(ref) / "dataset.json").read_text()))

    def records(self) -> list[DatasetRecord]:
        """Built-ins first, then uploads, oldest first."""
        uploads = []
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if DATASET_ID.match(folder.name):
                    try:
                        uploads.append(self.get(folder.name))
                    except (UnknownDataset, FileNotFoundError):
                        continue  # deleted while we listed
        uploads.sort(key=lambda record: record.created_at or "")
        return [DatasetRecord.from_builtin(b) for b in self.builtins.values()] + uploads

    def preview(self, ref: str) -> Path:
        """The contact sheet; a built-in's is drawn on first use and kept."""
        if ref not in self.builtins:
            return self._folder(ref) / "preview.png"
        path = self.root / ".previews" / f"{ref}.png"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            dataset = self.builtins[ref]
            images, labels = dataset.load(dataset.preview_size, dataset.channels)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
            tmp.write_bytes(preview_grid.render(self._builtin_rows(images, labels)))
            os.replace(tmp, path)
        return path

    @staticmethod
    def _builtin_rows(images: np.ndarray, labels: np.ndarray | None) -> list[list[Image.Image]]:
        if labels is None:
            picks = _spread(list(range(len(images))), 4 * _PREVIEW_PER_ROW)
            groups = [picks[i : i + _PREVIEW_PER_ROW] for i in range(0, len(picks), _PREVIEW_PER_ROW)]
        else:
            groups = [_spread(np.flatnonzero(labels == c).tolist(), _PREVIEW_PER_ROW) for c in np.unique(labels)[:10]]
        return [[preview_grid.from_array(images[i]) for i in group] for group in groups]

    def _render_upload_preview(self, files: Path, record: DatasetRecord) -> bytes:
        k = _PREVIEW_PER_ROW
        if record.layout == "classes":
            rows = [_spread(_files(files / c["name"]), k) for c in record.classes[:10]]
        elif record.pairing == "by-name":
            pairs = _spread(_files(files / "A"), 4 * k // 2)
            flat = [p for a in pairs for p in (a, files / "B" / a.name)]
            rows = [flat[i : i + k] for i in range(0, len(flat), k)]
        elif record.layout == "unpaired":
            rows = [_spread(_files(files / d), k) for d in DOMAINS]
        else:
            picks = _spread(_files(files), 4 * k)
            rows = [picks[i : i + k] for i in range(0, len(picks), k)]
        opened = [[Image.open(p) for p in row] for row in rows]
        try:
            return preview_grid.render(opened)
        finally:
            for row in opened:
                for image in row:
                    image.close()

    # -- loading for trainers -----------------------------------------------------------------

    def load_images(self, ref: str, image_size: int, channels: int) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
        """An `images` or `classes` dataset (upload or built-in) as float32 [N, C, H, W] in [-1, 1],
        int64 labels (None when unconditional) and the class names."""
        if ref in self.builtins:
            dataset = self.builtins[ref]
            images, labels = dataset.load(image_size, channels)
            return images, labels, list(dataset.class_names)
        record = self.get(ref)
        files = self._folder(ref) / "files"
        if record.layout == "images":
            return to_array(self._open_all(_files(files)), image_size, channels), None, []
        if record.layout != "classes":
            raise ValueError(f"{ref} is a {record.layout} dataset; load it with load_pairs")
        names = [c["name"] for c in record.classes]
        paths, labels = [], []
        for label, class_name in enumerate(names):
            members = _files(files / class_name)
            paths += members
            labels += [label] * len(members)
        return to_array(self._open_all(paths), image_size, channels), np.asarray(labels, np.int64), names

    def load_pairs(self, ref: str, image_size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """A `paired` or `unpaired` dataset as (A, B) arrays. Paired: row i of A goes with row i of
        B. Unpaired: the two may differ in length."""
        record = self.get(ref)
        files = self._folder(ref) / "files"
        if record.pairing == "side-by-side":
            halves = [self._split(path) for path in _files(files)]
            return (to_array((a for a, _ in halves), image_size, channels),
                    to_array((b for _, b in halves), image_size, channels))
        if record.layout not in ("paired", "unpaired"):
            raise ValueError(f"{ref} is a {record.layout} dataset; load it with load_images")
        # Paired by name: the same sorted names on both sides, so rows line up.
        a, b = (to_array(self._open_all(_files(files / d)), image_size, channels) for d in DOMAINS)
        return a, b

    @staticmethod
    def _open_all(paths: list[Path]):
        for path in paths:
            with Image.open(path) as image:
                image.load()
                yield image

    @staticmethod
    def _split(path: Path) -> tuple[Image.Image, Image.Image]:
        with Image.open(path) as image:
            half = image.width // 2
            return image.crop((0, 0, half, image.height)), image.crop((half, 0, 2 * half, image.height))
