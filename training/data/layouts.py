"""How the files of an upload are arranged, and where each lands in the dataset folder.

    images    photo1.png photo2.png ...            unconditional
    classes   cat/1.png dog/7.png ...              one folder per class; the folder is its name
    unpaired  A/x.png ... B/y.png ...              two domains, any files in each
    paired    A/x.png B/x.png ...                  same file names pair up, or
              x.png (left half A, right half B)    side-by-side pairs in a flat folder

`plan_layout` works from names alone, before anything is extracted, and maps each image to a
canonical path (A/B in upper case, a common wrapper folder such as `my-data/` dropped), so the
loaders read every dataset of a layout the same way.
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal, get_args

from training.data.archive_check import (
    ArchiveRejected,
    Entry,
    FileError,
    ImageInfo,
    is_image,
    is_junk,
)

Layout = Literal["images", "classes", "unpaired", "paired"]
LAYOUTS: tuple[str, ...] = get_args(Layout)
DOMAINS = ("A", "B")

_DEPTH = {"images": 1, "classes": 2, "unpaired": 2, "paired": 1}


@dataclass
class Plan:
    layout: str
    files: dict[str, Entry]  # canonical path in the dataset -> archive entry
    classes: list[str] = field(default_factory=list)  # `classes`: sorted folder names
    pairing: str | None = None  # `paired`: "by-name" or "side-by-side"
    ignored: list[str] = field(default_factory=list)  # files that are not images


def _reject(errors: list[FileError], detail: str) -> ArchiveRejected:
    return ArchiveRejected(422, "bad-layout", "The files do not match the layout", detail, errors)


def _strip_wrappers(paths: list[str], depth: int) -> int:
    """How many leading folders every path shares (and the layout does not need): `data/cat/1.png`
    under `classes` drops `data/`, but never a domain folder A or B."""
    parts = [PurePosixPath(p).parts for p in paths]
    strip = 0
    while all(len(p) > strip + depth for p in parts) and len({p[strip] for p in parts}) == 1:
        if parts[0][strip].upper() in DOMAINS:
            break
        strip += 1
    return strip


def plan_layout(layout: str, entries: list[Entry]) -> Plan:
    """Map each image to its place for `layout`; refuses with every file that does not fit."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}")
    kept = [e for e in entries if not is_junk(e.path)]
    images = [e for e in kept if is_image(e.path)]
    ignored = sorted(e.path for e in kept if not is_image(e.path))
    if not images:
        raise _reject([FileError("", "the archive holds no images (.png, .jpg, ...)", "no_images")], "no images")
    depth = _DEPTH[layout]
    if layout == "paired" and any(_in_domain_folder(e.path) for e in images):
        depth = 2
    strip = _strip_wrappers([e.path for e in images], depth)
    relative = {e.path: PurePosixPath(*PurePosixPath(e.path).parts[strip:]) for e in images}
    plan = Plan(layout, {}, ignored=ignored)
    errors: list[FileError] = []

    def place(entry: Entry, target: str) -> None:
        if target in plan.files:
            errors.append(FileError(entry.path, f"lands on the same file as {plan.files[target].path}", "duplicate_entry"))
        else:
            plan.files[target] = entry

    for entry in images:
        parts = relative[entry.path].parts
        if len(parts) != depth:
            errors.append(FileError(entry.path, _where_expected(layout, depth), "layout"))
        elif depth == 1:
            place(entry, parts[0])
        elif layout == "classes":
            place(entry, f"{parts[0]}/{parts[1]}")
        elif parts[0].upper() in DOMAINS:
            place(entry, f"{parts[0].upper()}/{parts[1]}")
        else:
            errors.append(FileError(entry.path, "expected inside A/ or B/", "layout"))
    if errors:
        raise _reject(errors, f"{len(errors)} files do not fit the '{layout}' layout")

    counts = Counter(PurePosixPath(t).parts[0] for t in plan.files if "/" in t)
    if layout == "classes":
        plan.classes = sorted(counts)
        if len(plan.classes) < 2:
            raise _reject([FileError("", "a classes dataset needs at least two class folders", "too_few_classes")],
                          f"one class folder found ({', '.join(plan.classes)}); upload with layout 'images' instead")
    elif depth == 2:  # unpaired, or paired by name
        missing = [d for d in DOMAINS if not counts[d]]
        if missing:
            raise _reject([FileError("", f"no images under {d}/", "missing_domain") for d in missing],
                          f"the '{layout}' layout needs images under both A/ and B/")
        if layout == "paired":
            plan.pairing = "by-name"
            _check_partners(plan)
    elif layout == "paired":
        plan.pairing = "side-by-side"
    return plan


def _in_domain_folder(path: str) -> bool:
    return any(part.upper() in DOMAINS for part in PurePosixPath(path).parts[:-1])


def _where_expected(layout: str, depth: int) -> str:
    return {
        "images": "expected directly in the top folder (use layout 'classes' for one folder per class)",
        "classes": "expected inside exactly one class folder, e.g. cat/1.png",
        "unpaired": "expected directly inside A/ or B/",
        "paired": "expected directly inside A/ or B/" if depth == 2 else "expected directly in the top folder",
    }[layout]


def _check_partners(plan: Plan) -> None:
    names = {d: {t.split("/", 1)[1] for t in plan.files if t.startswith(d + "/")} for d in DOMAINS}
    errors = [
        FileError(plan.files[f"{d}/{name}"].path, f"no partner {other}/{name}", "unpaired_file")
        for d, other in (("A", "B"), ("B", "A"))
        for name in sorted(names[d] - names[other])
    ]
    if errors:
        raise _reject(errors, f"{len(errors)} files in A/ and B/ have no partner of the same name")


def check_side_by_side(images: list[ImageInfo], archive_names: dict[str, str]) -> None:
    """Side-by-side pairs hold A in the left half and B in the right: the width must be even."""
    errors = [
        FileError(archive_names[i.path], f"{i.width}x{i.height} cannot split into two halves", "odd_width")
        for i in images
        if i.width % 2
    ]
    if errors:
        raise _reject(errors, f"{len(errors)} side-by-side images have an odd width")
