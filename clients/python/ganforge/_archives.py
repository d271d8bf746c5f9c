"""Datasets from a folder or an archive: zip a folder, and guess its layout from its paths."""

import os
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
ARCHIVE_TYPES = {".zip": "application/zip", ".tar": "application/x-tar", ".gz": "application/gzip",
                 ".tgz": "application/gzip", ".bz2": "application/x-bzip2", ".xz": "application/x-xz"}


def _visible(parts: tuple[str, ...]) -> bool:
    return not any(part.startswith(".") or part == "__MACOSX" for part in parts)


def zip_folder(folder: Path) -> Path:
    """The folder's files in a temporary zip (paths relative to the folder); the caller deletes it."""
    handle, name = tempfile.mkstemp(prefix=f"{folder.name}-", suffix=".zip")
    os.close(handle)
    with zipfile.ZipFile(name, "w", compression=zipfile.ZIP_STORED) as archive:  # images are compressed already
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and not path.is_symlink() and _visible(relative.parts):
                archive.write(path, relative.as_posix())
    return Path(name)


def archive_members(path: Path) -> list[str]:
    """File names inside a zip or tar archive."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [name for name in archive.namelist() if not name.endswith("/")]
    with tarfile.open(path) as archive:
        return [member.name for member in archive.getmembers() if member.isfile()]


def guess_layout(paths: list[str]) -> str:
    """`unpaired`/`paired` for A/ and B/ (paired when both hold the same file names), `classes` for
    two or more folders of images, else `images`. A single wrapping folder is looked through."""
    images = [PurePosixPath(p) for p in paths if PurePosixPath(p).suffix.lower() in IMAGE_SUFFIXES]
    images = [p for p in images if _visible(p.parts)]
    while (images and all(len(p.parts) > 2 for p in images) and len({p.parts[0] for p in images}) == 1
           and images[0].parts[0].upper() not in ("A", "B")):
        images = [PurePosixPath(*p.parts[1:]) for p in images]  # one folder around everything
    folders: dict[str, set[str]] = {}
    for path in images:
        if len(path.parts) > 1:
            folders.setdefault(path.parts[0].upper() if path.parts[0].upper() in ("A", "B") else path.parts[0],
                               set()).add(path.name)
    if set(folders) == {"A", "B"}:
        return "paired" if folders["A"] == folders["B"] else "unpaired"
    if len(folders) >= 2:
        return "classes"
    return "images"


def archive_content_type(path: Path) -> str:
    return ARCHIVE_TYPES.get(path.suffix.lower(), "application/octet-stream")


def folder_paths(folder: Path) -> list[str]:
    return [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
