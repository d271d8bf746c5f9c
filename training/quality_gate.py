"""Quality gates: a new version is registered, but `latest` moves to it only when it beats a baseline.

The baseline is what a user would get without the new version: bicubic for an upscaler, the
previous `latest` for a generator (by FID on the same data and extractor), the input itself for
a translator (L1 against the targets). The request may say `promote: "always"`. The verdict
lands in the job's metrics and in the manifest under `quality_gate`, saying which and why.
"""

from dataclasses import asdict, dataclass
from typing import Any

from models.manifest import Manifest
from models.store import ModelStore

PROMOTE_MODES = ("if_better", "always")
LATEST = "latest"


@dataclass(frozen=True)
class GateVerdict:
    promoted: bool
    baseline: str  # what the version was compared with
    reason: str
    promote: str = "if_better"  # what the request asked

    def as_metrics(self) -> dict[str, Any]:
        return {"quality_gate": asdict(self)}


def judge(promote: str, baseline: str, beats: bool | None, detail: str) -> GateVerdict:
    """`beats`: True / False from a measurement, None when nothing could be measured (promoted:
    no evidence against it, and the reason says so)."""
    if promote == "always":
        return GateVerdict(True, baseline, f"promote: always ({detail})", promote)
    if beats is None:
        return GateVerdict(True, baseline, f"not measured against {baseline}: {detail}", promote)
    verb = "beats" if beats else "does not beat"
    return GateVerdict(bool(beats), baseline, f"{verb} {baseline}: {detail}", promote)


def apply(store: ModelStore, manifest: Manifest, verdict: GateVerdict) -> Manifest:
    """Record the verdict in the manifest and move `latest` when it says so."""
    manifest = store.update_metrics(manifest.name, manifest.version, verdict.as_metrics())
    if verdict.promoted:
        store.set_alias(manifest.name, LATEST, manifest.version)
    return manifest


def previous_latest(store: ModelStore, name: str, before: int) -> Manifest | None:
    """The version `latest` points at (or would), other than `before`; None for a first version."""
    version = store.aliases(name).get(LATEST)
    if version is None or version == before or version not in store.versions(name):
        return None
    return store.manifest(name, version)
