"""A folder on this host kept in step with a prefix of the bucket: training checkpoints, which a
trainer writes to a local folder and a training host started elsewhere must find.

`push` after the writer saved (new or changed files up, '.json' files last, files the writer
pruned removed), `pull` before it reads (files it lacks come down). The order matters for
checkpoints: a checkpoint counts only once its JSON is there (training/trainers/checkpoints.py),
so a host that dies mid-push leaves tensors without JSON, which a reader ignores, never a JSON
naming tensors not yet uploaded.
"""

from pathlib import Path

from models.artifacts import ObjectStore


class FolderMirror:
    def __init__(self, objects: ObjectStore, prefix: str, folder: Path):
        self.objects, self.prefix, self.folder = objects, prefix.strip("/"), Path(folder)

    def push(self) -> int:
        """Upload what changed since the bucket last saw it; how many files went up."""
        remote = self._remote()
        local = {path.name: path.stat().st_size for path in self._files()}
        changed = sorted((name for name, size in local.items() if remote.get(name) != size),
                         key=lambda name: (name.endswith(".json"), name))
        for name in changed:
            self.objects.upload(f"{self.prefix}/{name}", self.folder / name)
        for name in sorted(set(remote) - set(local), key=lambda name: not name.endswith(".json")):
            self.objects.delete(f"{self.prefix}/{name}")  # a pruned checkpoint: its JSON goes first
        return len(changed)

    def pull(self) -> int:
        """Download what this folder lacks (or holds at another size); how many files came down."""
        local = {path.name: path.stat().st_size for path in self._files()}
        wanted = sorted((name for name, size in self._remote().items() if local.get(name) != size),
                        key=lambda name: (name.endswith(".json"), name))
        if wanted:
            self.folder.mkdir(parents=True, exist_ok=True)
        for name in wanted:
            part = self.folder / f".{name}.part"
            self.objects.download(f"{self.prefix}/{name}", part)
            part.replace(self.folder / name)
        return len(wanted)

    def _remote(self) -> dict[str, int]:
        start = len(self.prefix) + 1
        return {key[start:]: size for key, size in self.objects.list(f"{self.prefix}/").items() if "/" not in key[start:]}

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return [path for path in self.folder.iterdir() if path.is_file() and not path.name.startswith(".")]
