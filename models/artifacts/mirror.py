"""A folder on this host kept in step with a prefix of the bucket: training checkpoints, which a
trainer writes to a local folder and a training host started elsewhere must find.

`push` after the writer saved (new or changed files up, '.json' files last, files the writer
pruned removed), `pull` before it reads (files it lacks come down). The order matters for
checkpoints: a checkpoint counts only once its JSON is there (training/trainers/checkpoints.py),
so a host that dies mid-push leaves tensors without JSON, which a reader ignores, never a JSON
naming tensors not yet uploaded.

A training does not wait for the bucket: `BackgroundPush` runs the pushes on a thread of the run's
own, while the writer goes on saving into the folder (rename into place, JSON last, pruning JSON
first). A push therefore lists the JSON files before everything else: a JSON seen in the first
listing had its tensors in place before the second began, so both go up together; a JSON written
in between waits for the next push.
"""

import threading
from collections.abc import Callable
from pathlib import Path

from models.artifacts import ObjectStore


class FolderMirror:
    def __init__(self, objects: ObjectStore, prefix: str, folder: Path):
        self.objects, self.prefix, self.folder = objects, prefix.strip("/"), Path(folder)

    def push(self) -> int:
        """Upload what changed since the bucket last saw it; how many files went up."""
        markers = {path.name for path in self._files() if path.name.endswith(".json")}
        local = {path.name: size for path in self._files() if (size := _size(path)) is not None}
        local = {name: size for name, size in local.items() if not name.endswith(".json") or name in markers}
        remote = self._remote()
        changed = sorted((name for name, size in local.items() if remote.get(name) != size),
                         key=lambda name: (name.endswith(".json"), name))
        uploaded = 0
        for name in changed:
            if not (self.folder / name).is_file():
                continue  # pruned since we listed: its JSON went first, so nothing names it
            try:
                self.objects.upload(f"{self.prefix}/{name}", self.folder / name)
                uploaded += 1
            except FileNotFoundError:
                continue  # pruned while it went up
        for name in sorted(set(remote) - set(local), key=lambda name: not name.endswith(".json")):
            if (self.folder / name).is_file():
                continue  # written since we listed: not pruned
            self.objects.delete(f"{self.prefix}/{name}")  # a pruned checkpoint: its JSON goes first
        return uploaded

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


class BackgroundPush:
    """One run's uploader: `request()` after each save returns at once, and a thread pushes the
    folder. Saves made while a push is in flight coalesce into one push after it, which reads
    the folder as it is then: the newest checkpoint goes up, ones pruned meanwhile never do.

    A push that fails is reported to `on_failure` and tried again at the next request (the bucket
    compares sizes, so nothing pushed is pushed twice). `flush()` waits for everything requested
    so far to be in the bucket, and raises what the last push raised: a run's end (or a worker's
    graceful stop) calls it before the job is released.
    """

    def __init__(self, mirror: FolderMirror, on_failure: Callable[[Exception], None]):
        self.mirror, self.on_failure = mirror, on_failure
        self._changed = threading.Condition()
        self._requested = 0  # requests made
        self._covered = 0  # requests the newest finished push began after
        self._error: Exception | None = None  # what the newest finished push raised
        self._closing = False
        self._thread: threading.Thread | None = None

    def request(self) -> None:
        """The folder changed: push it soon."""
        with self._changed:
            if self._closing:
                raise RuntimeError("this run's uploader was flushed and closed")
            self._requested += 1
            self._start()
            self._changed.notify_all()

    def flush(self) -> None:
        """Push what is still to go up, wait for it, and stop the thread; raises the failure of
        that last push. Nothing may be requested after; a second flush does nothing."""
        with self._changed:
            if self._closing:
                return
            self._closing = True
            self._requested += 1  # one more push, so a failed one is retried and a fresh folder checked
            self._start()
            self._changed.notify_all()
            target = self._requested
            self._changed.wait_for(lambda: self._covered >= target)
            error = self._error
        self._thread.join()
        if error is not None:
            raise error

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"push {self.mirror.prefix}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._requested > self._covered or self._closing)
                if self._requested == self._covered:
                    return  # closing, nothing left to push
                begun_after = self._requested
            try:
                self.mirror.push()
                error = None
            except Exception as failure:  # the bucket away: the training goes on, the next save retries
                error = failure
            with self._changed:
                self._covered, self._error = begun_after, error
                report = error is not None and not self._closing  # else flush raises it to its caller
                self._changed.notify_all()
            if report:
                self.on_failure(error)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None  # pruned while we listed
