"""Builders of small archives for the dataset tests: good ones, broken ones and attacks."""

import io
import stat
import tarfile
import zipfile
from pathlib import Path

from PIL import Image


def png(color=(200, 30, 30), size=(12, 12), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format="PNG")
    return out.getvalue()


def truncated_png() -> bytes:
    """A PNG whose header reads fine but whose pixel data stops half way (verify alone misses some)."""
    out = io.BytesIO()
    Image.effect_noise((64, 64), 64).save(out, format="PNG")
    return out.getvalue()[:-200]


def classes_files(prefix: str = "") -> dict[str, bytes]:
    return {
        f"{prefix}{name}/{i}.png": png((40 * i, 100 if name == "cat" else 0, 0))
        for name in ("cat", "dog")
        for i in range(3)
    }


def zip_bytes(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name), data, zipfile.ZIP_DEFLATED)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix, so the mode bits in external_attr count
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return out.getvalue()


def tar_bytes(files: dict[str, bytes], mode: str = "w:gz", *, specials: list[tarfile.TarInfo] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in specials:
            archive.addfile(info)
    return out.getvalue()


def tar_entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
