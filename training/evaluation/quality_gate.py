"""Quality gates: a new version is registered, but `latest` moves to it only when it beats a baseline.

The baseline is what a user would get without the new version: bicubic for an upscaler, the
previous `latest` for a generator (by FID on the same data and extractor), the input itself for
a translator (L1 against the targets). The request may say `promote: "always"`. The verdict
lands in the job's metrics and in the manifest under `quality_gate`, saying which and why.

`if_better` never promotes what it did not measure: a version that cannot be measured (no
extractor suits its images, measuring failed, or its baseline could not be measured the same
way) is registered, but `latest` stays where it was. Only a first version, with nothing else
to serve, takes `latest` unmeasured, and its verdict says so (`measured: false`).
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
    measured: bool = True  # False: nothing was measured against the baseline

    def as_metrics(self) -> dict[str, Any]:
        return {"quality_gate": asdict(self)}


def judge(promote: str, baseline: str, beats: bool | None, detail: str, *, keeps: str | None = None) -> GateVerdict:
    """`beats`: True / False from a measurement, None when nothing could be measured. `keeps`: the
    version `latest` points at now (its ref), None when there is none. Unmeasured, a version is
    promoted only when there is nothing else to serve; `if_better` never replaces a `latest`
    with a version it could not measure."""
    measured = beats is not None
    if promote == "always":
        return GateVerdict(True, baseline, f"promote: always ({detail})", promote, measured)
    if beats is None:
        if keeps is None:
            return GateVerdict(True, baseline, f"not measured against {baseline}: {detail}", promote, False)
        return GateVerdict(False, baseline, f"not measured against {baseline}: {detail}; `latest` stays on {keeps}: "
                           "if_better never promotes an unmeasured version (measure it with POST /evaluate and move "
                           "the alias, or train with promote: always)", promote, False)
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


def latest_ref(store: ModelStore, manifest: Manifest) -> str | None:
    """The ref `latest` points at other than `manifest`'s own: what an unmeasured version leaves in place."""
    previous = previous_latest(store, manifest.name, manifest.version)
    return previous.ref if previous else None


# -- generators: the new version's FID against the previous `latest`'s ----------------------------

# What two FIDs must share to be compared: the same data, judge, resize and sample counts.
FID_COMPARED_BY = ("dataset", "extractor", "resize_mode", "n_real", "n_fake")


def comparable(new: dict[str, Any] | None, old: dict[str, Any] | None) -> bool:
    return bool(new and old and "fid" in new and "fid" in old
                and all(new.get(key) == old.get(key) for key in FID_COMPARED_BY))


def recorded_fid(manifest: Manifest, like: dict[str, Any]) -> dict[str, Any] | None:
    """The figures in `manifest` measured as `like` was (training/evaluation/run.py records them under
    metrics["evaluations"]["{dataset}/{extractor}"]), when there are such."""
    for figures in (manifest.metrics.get("evaluations") or {}).values():
        if comparable(like, figures):
            return figures
    return None


def generator_verdict(promote: str, figures: dict[str, Any] | None, previous: Manifest | None,
                      measure_previous=None, unmeasured_because: str = "evaluation off or not possible") -> GateVerdict:
    """The rule: a generator beats its baseline, the previous `latest`, when its FID is lower on the
    same data with the same extractor, resize and sample counts. The previous version's figures
    come from its manifest when it was measured that way, else from `measure_previous(previous)`
    (the same measurement; None when it cannot be made). A first version is promoted unmeasured
    (nothing else to serve); a later one that has no FID, or whose baseline has none measured the
    same way, is not (`unmeasured_because`: why the new version has none), and the reason says so."""
    baseline = "previous version"
    if previous is None:
        return judge(promote, baseline, None, "the first version: nothing to compare with")
    if not figures or "fid" not in figures:
        return judge(promote, baseline, None, f"the new version has no FID ({unmeasured_because})", keeps=previous.ref)
    old = recorded_fid(previous, figures)
    if old is None and measure_previous is not None:
        measured = measure_previous(previous)
        old = measured if comparable(figures, measured) else None
    if old is None:
        return judge(promote, baseline, None, f"{previous.ref} has no FID measured as this one was",
                     keeps=previous.ref)
    detail = (f"FID {figures['fid']:.3f} vs {previous.ref} {old['fid']:.3f} ({figures['extractor']}, "
              f"{figures['n_fake']} samples against {figures['n_real']} images of {figures['dataset']})")
    return judge(promote, baseline, figures["fid"] < old["fid"], detail)


def gate_generator(store: ModelStore, manifest: Manifest, figures: dict[str, Any] | None, promote: str,
                   measure_previous=None, unmeasured_because: str = "evaluation off or not possible",
                   ) -> tuple[Manifest, GateVerdict]:
    """Judge a just-registered generator against the `latest` before it and apply the verdict.
    Registration may already have pointed `latest` at the new version: a version that does not
    pass gives `latest` back to the one before."""
    aliases = store.aliases(manifest.name)
    previous = previous_latest(store, manifest.name, manifest.version)
    if previous is None and aliases.get(LATEST) == manifest.version:
        previous = _newest_before(store, manifest)
    verdict = generator_verdict(promote, figures, previous, measure_previous, unmeasured_because)
    manifest = apply(store, manifest, verdict)
    if not verdict.promoted and previous is not None:
        store.set_alias(manifest.name, LATEST, previous.version)
    return manifest, verdict


def _newest_before(store: ModelStore, manifest: Manifest) -> Manifest | None:
    """The version `latest` pointed at before this one took it: the newest earlier version that
    passed its own gate (or was registered before gates existed)."""
    for version in sorted((v for v in store.versions(manifest.name) if v < manifest.version), reverse=True):
        earlier = store.manifest(manifest.name, version)
        if (earlier.metrics.get("quality_gate") or {}).get("promoted", True):
            return earlier
    return None
