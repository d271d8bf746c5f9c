"""Files one process stages for another on a different host: an upload the API received, for the
worker that checks and publishes it. A folder on the sender's disk goes to a prefix of the
bucket (`push`), comes back as a folder on the receiver's disk (`pull`), and is removed from the
bucket when the job is done with it (`drop`). Without a bucket the folder itself is shared."""

from pathlib import Path

from models.artifacts import ObjectStore


def push(objects: ObjectStore, prefix: str, folder: Path) -> None:
    """Every file directly in `folder`, under `prefix/` (uploads are flat folders)."""
    for path in sorted(folder.iterdir()):
        if path.is_file():
            objects.upload(f"{prefix}/{path.name}", path)


def pull(objects: ObjectStore, prefix: str, folder: Path) -> int:
    """The files under `prefix/` into `folder` (made if need be); how many there were."""
    keys = [key for key in objects.list(f"{prefix}/") if "/" not in key[len(prefix) + 1:]]
    folder.mkdir(parents=True, exist_ok=True)
    for key in keys:
        objects.download(key, folder / key[len(prefix) + 1:])
    return len(keys)


def drop(objects: ObjectStore, prefix: str) -> None:
    for key in objects.list(f"{prefix}/"):
        objects.delete(key)
