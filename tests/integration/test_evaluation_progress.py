"""/evaluate tells how far it is (issue 27, item 9): progress events with the images measured so
far, of all it will measure, their rate and an ETA, over the job's event stream."""

import json

import pytest

pytestmark = pytest.mark.integration

N = 1000  # two batches of the digit judge per pass


def events_of(api, job_id: str) -> list[tuple[str, dict]]:
    events, name = [], None
    with api.stream("GET", f"/jobs/{job_id}/events", timeout=300) as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[len("data: "):])))
                if name == "end":
                    break
    return events


def test_an_evaluation_reports_extracted_images_and_an_eta(api):
    answer = api.post("/evaluate", json={"model": "mnist-cdcgan", "n_samples": N, "seed": 2})
    assert answer.status_code == 202, answer.text
    events = events_of(api, answer.json()["id"])
    assert events[-1][1]["status"] == "succeeded", events[-1]
    progress = [data["progress"] for name, data in events if name == "progress"]
    assert progress, [name for name, _ in events]
    assert {p["phase"] for p in progress} == {"extracting"}
    total = progress[0]["total"]
    # the samples' features, their logits for IS and for class accuracy; the real images on a cold cache
    assert total in (3 * N, 3 * N + 5000), total
    assert progress[0]["images"] == 0 and progress[-1]["images"] == total
    assert [p["images"] for p in progress] == sorted(p["images"] for p in progress)
    assert progress[-1]["eta_s"] == 0 and progress[-1]["images_per_sec"] > 0
    job = api.get(f"/jobs/{answer.json()['id']}").json()
    assert job["progress"]["images"] == total and job["metrics"]["kid_std"] > 1e-6
    # 1,000 would be every sample in every subset: half of them, drawn anew each time
    assert job["metrics"]["kid_subset_size"] == N // 2 and job["metrics"]["kid_subsets"] == 100
