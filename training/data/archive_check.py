"""Checks an uploaded zip or tar archive before any of it is accepted.

Three steps, each refusing the archive with an `ArchiveRejected` that names every failing file:

1. `list_entries`: read the archive's directory without extracting. Names are normalized;
   absolute paths, `..`, links and device files are refused; the file count, the total
   uncompressed size and the compression ratio are bounded (a zip bomb is caught here, from
   the sizes the archive declares, before a byte of it is inflated).
2. `extract`: copy the chosen regular files into a staging folder, counting the bytes really
   written, so an archive whose headers lie still cannot write more than it declared.
3. `check_images`: every image must decode (Pillow's verify, then a full load) and stay under
   a pixel bound.

Nothing here knows about HTTP; the API maps `status` to the response.
"""

import re
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
# Folders and files that archivers add on their own; they are skipped, not refused.
_JUNK_DIRS = frozenset({"__MACOSX", ".git"})
_JUNK_FILES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini"})
# Below this size a member cannot be a bomb on its own (the total bound still applies), and a
# tiny, very compressible file (a blank BMP) would otherwise trip the ratio check.
_RATIO_FLOOR_BYTES = 1 << 20
_COPY_CHUNK = 1 << 20
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class Limits:
    max_files: int = 20_000
    max_total_bytes: int = 1 << 30
    max_ratio: float = 100.0
    max_image_pixels: int = 4096 * 4096


@dataclass(frozen=True)
class FileError:
    path: str
    message: str
    type: str


class ArchiveRejected(Exception):
    """The archive is refused: 413 when it is too large, 422 when it is broken or unsafe."""

    def __init__(self, status: int, type_: str, title: str, detail: str, errors: list[FileError] | None = None):
        super().__init__(detail)
        self.status = status
        self.type = type_
        self.title = title
        self.detail = detail
        self.errors = errors or []


def _too_large(detail: str, path: str | None = None, type_: str = "archive-too-large") -> ArchiveRejected:
    errors = [FileError(path, detail, type_.replace("-", "_"))] if path else []
    return ArchiveRejected(413, type_, "Archive too large", detail, errors)


def _broken(detail: str) -> ArchiveRejected:
    return ArchiveRejected(422, "broken-archive", "Not a readable zip or tar archive", detail)


@dataclass(frozen=True)
class Entry:
    """A regular file in the archive: its normalized relative path and declared size."""

    path: str
    size: int
    member: object = field(repr=False, compare=False)  # the ZipInfo or TarInfo to read it by


# -- 1. the directory -------------------------------------------------------------------------


def normalize(name: str) -> str:
    """`./a\\b//c.png` -> `a/b/c.png`; raises ValueError for a name that leaves the target."""
    name = name.replace("\\", "/")
    if name.startswith("/") or _WINDOWS_DRIVE.match(name):
        raise ValueError("absolute path")
    if any(ord(ch) < 32 for ch in name):
        raise ValueError("control character in name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("path escapes the archive ('..')")
    if not parts:
        raise ValueError("empty name")
    if any(len(p.encode()) > 255 for p in parts):
        raise ValueError("name component longer than 255 bytes")
    return "/".join(parts)


def is_junk(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(_JUNK_DIRS.intersection(parts)) or parts[-1] in _JUNK_FILES or parts[-1].startswith("._")


def is_image(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGE_SUFFIXES


def archive_format(path: Path) -> str:
    """'zip' or 'tar', from the bytes (never the file name)."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        with tarfile.open(path, "r:*") as tar:
            tar.next()  # a non-tar that happens to open fails on its first header
        return "tar"
    except (tarfile.TarError, EOFError, OSError, zlib.error):
        raise _broken("the upload is not a zip, tar, tar.gz, tar.bz2 or tar.xz archive") from None


def _zip_members(archive: zipfile.ZipFile):
    """(name, size, compressed size or None, kind) for each zip member."""
    for info in archive.infolist():
        file_type = stat.S_IFMT(info.external_attr >> 16)  # Unix mode bits; 0 from other systems
        if info.is_dir():
            kind = "dir"
        elif file_type == stat.S_IFLNK:
            kind = "symlink"
        elif file_type not in (0, stat.S_IFREG):
            kind = "special"
        elif info.flag_bits & 0x1:
            kind = "encrypted"
        else:
            kind = "file"
        yield info, info.filename, info.file_size, info.compress_size, kind


def _tar_members(archive: tarfile.TarFile):
    # Iterating a TarFile reads one header at a time, so the limits below stop a bomb before
    # its data is inflated.
    for info in archive:
        if info.isdir():
            kind = "dir"
        elif info.issym():
            kind = "symlink"
        elif info.islnk():
            kind = "hardlink"
        elif info.isreg():
            kind = "file"
        else:
            kind = "special"
        yield info, info.name, info.size, None, kind


_REFUSED_KINDS = {
    "symlink": ("symbolic links are not accepted", "link"),
    "hardlink": ("hard links are not accepted", "link"),
    "special": ("device, fifo and other special files are not accepted", "special_file"),
    "encrypted": ("encrypted members are not accepted", "encrypted"),
}


def list_entries(path: Path, limits: Limits) -> tuple[str, list[Entry]]:
    """The archive's format and its regular files, checked as described in the module doc."""
    fmt = archive_format(path)
    archive_bytes = max(path.stat().st_size, 1)
    entries: dict[str, Entry] = {}
    unsafe: list[FileError] = []
    total = 0
    try:
        opener = zipfile.ZipFile(path) if fmt == "zip" else tarfile.open(path, "r:*")  # noqa: SIM115 (closed by the with below)
        with opener as archive:
            members = _zip_members(archive) if fmt == "zip" else _tar_members(archive)
            for member, name, size, packed, kind in members:
                try:
                    clean = normalize(name)
                except ValueError as why:
                    unsafe.append(FileError(name, str(why), "unsafe_path"))
                    continue
                if kind in _REFUSED_KINDS:
                    message, type_ = _REFUSED_KINDS[kind]
                    unsafe.append(FileError(clean, message, type_))
                    continue
                if kind == "dir":
                    continue
                if clean in entries:
                    unsafe.append(FileError(clean, "the archive holds this name twice", "duplicate_entry"))
                    continue
                entries[clean] = Entry(clean, size, member)
                total += size
                if len(entries) > limits.max_files:
                    raise _too_large(f"more than {limits.max_files} files in the archive", type_="too-many-files")
                if total > limits.max_total_bytes:
                    raise _too_large(f"the files add up to more than {limits.max_total_bytes} bytes uncompressed")
                if packed is not None and size > _RATIO_FLOOR_BYTES and size > packed * limits.max_ratio:
                    raise _too_large(
                        f"{clean} inflates {size / max(packed, 1):.0f}x (at most {limits.max_ratio:g}x): a zip bomb?",
                        clean, "compression-ratio",
                    )
                if total > _RATIO_FLOOR_BYTES and total > archive_bytes * limits.max_ratio:
                    raise _too_large(
                        f"the archive inflates more than {limits.max_ratio:g}x its size: a zip bomb?",
                        clean, "compression-ratio",
                    )
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise _broken(f"the {fmt} archive is damaged or truncated: {error}") from None
    unsafe.extend(_file_folder_clashes(entries))
    if unsafe:
        raise ArchiveRejected(
            422, "unsafe-archive", "Unsafe entries in the archive",
            f"{len(unsafe)} entries would leave the dataset folder or are not plain files", unsafe,
        )
    return fmt, list(entries.values())


def _file_folder_clashes(entries: dict[str, Entry]) -> list[FileError]:
    """`a` as a file and `a/b` beside it cannot both be extracted."""
    folders = {str(parent) for path in entries for parent in PurePosixPath(path).parents}
    return [FileError(p, "this name is both a file and a folder", "duplicate_entry") for p in entries if p in folders]


# -- 2. extraction ----------------------------------------------------------------------------


def extract(archive_path: Path, fmt: str, plan: dict[str, Entry], dest: Path, limits: Limits) -> int:
    """Write each planned entry to `dest / target` (targets are normalized relative paths);
    returns the bytes written. Raises ArchiveRejected; `dest` is the caller's to remove."""
    root = dest.resolve()
    written = 0
    try:
        opener = zipfile.ZipFile(archive_path) if fmt == "zip" else tarfile.open(archive_path, "r:*")  # noqa: SIM115 (closed by the with below)
        with opener as archive:
            for target, entry in sorted(plan.items(), key=lambda item: _archive_order(item[1])):
                out = (root / target).resolve()
                if not out.is_relative_to(root):  # normalize() already ensures this; belt and braces
                    raise ArchiveRejected(422, "unsafe-archive", "Unsafe entries in the archive", target,
                                          [FileError(entry.path, "path leaves the dataset folder", "unsafe_path")])
                out.parent.mkdir(parents=True, exist_ok=True)
                source = archive.open(entry.member) if fmt == "zip" else archive.extractfile(entry.member)
                with source, out.open("xb") as sink:
                    size = 0
                    while chunk := source.read(_COPY_CHUNK):
                        size += len(chunk)
                        if size > entry.size or written + size > limits.max_total_bytes:
                            raise _too_large(f"{entry.path} holds more bytes than its header declares",
                                             entry.path, "compression-ratio")
                        sink.write(chunk)
                written += size
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as error:
        raise _broken(f"the {fmt} archive is damaged or truncated: {error}") from None
    return written


def _archive_order(entry: Entry) -> int:
    # Reading a compressed tar out of order means seeking back and inflating it again.
    return getattr(entry.member, "offset_data", 0)


# -- 3. images --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInfo:
    path: str  # relative to the folder checked
    width: int
    height: int
    mode: str


def check_image(path: Path, max_pixels: int) -> tuple[str, str] | tuple[int, int, str]:
    """(width, height, mode) of a decodable image, or (message, type) of why it is not."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                return f"{width}x{height} is more than {max_pixels} pixels", "too_many_pixels"
            image.verify()  # checksums and structure, without decoding
        with Image.open(path) as image:
            image.load()  # a truncated or corrupt pixel stream only shows here
            return width, height, image.mode
    except UnidentifiedImageError:
        return "not an image Pillow can read", "undecodable_image"
    except Image.DecompressionBombError as error:
        return str(error), "too_many_pixels"
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        return f"the image does not decode: {error}", "undecodable_image"


def check_images(root: Path, files: dict[str, str], limits: Limits) -> list[ImageInfo]:
    """Decode every image under `root` ({path under root: its name in the archive}); refuses
    with every failing file named as the uploader knows it."""
    infos, errors = [], []
    for rel, archive_name in sorted(files.items()):
        result = check_image(root / rel, limits.max_image_pixels)
        if isinstance(result[0], int):
            infos.append(ImageInfo(rel, *result))
        else:
            errors.append(FileError(archive_name, *result))
    if errors:
        raise ArchiveRejected(
            422, "bad-images", "Images that do not decode",
            f"{len(errors)} of {len(files)} images cannot be used", errors,
        )
    return infos
