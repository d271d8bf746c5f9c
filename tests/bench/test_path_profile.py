"""bench.path_profile's charging of py-spy samples to steps: the rules a reader of its table relies on."""

from collections import Counter

from bench.path_profile import breakdown, charge, read_raw

ENTRY = "main (service/api/app.py:108);Runner.run (asyncio/runners.py:118)"
MIDDLEWARE = "DocsPolicyMiddleware.__call__ (service/api/docs_policy.py:33);Router.__call__ (starlette/routing.py:683)"


def test_a_sample_goes_to_our_innermost_function_that_does_work():
    stacks = Counter({
        f"{ENTRY};{MIDDLEWARE};submit (service/api/jobs/submit.py:40);execute (redis/asyncio/client.py:9)": 3,
        f"{ENTRY};{MIDDLEWARE};solve_dependencies (fastapi/dependencies/utils.py:600)": 2,
        f"{ENTRY}": 5,
    })
    steps, libraries = charge(stacks)
    # Under an entry point or a middleware's __call__, the framework's work is not charged to them.
    assert steps == Counter({"service/api/jobs/submit.py: submit": 3, "(no frame of ours) FastAPI": 2,
                             "(no frame of ours) asyncio / uvloop": 5})
    assert libraries == Counter({"redis-py": 3, "FastAPI": 2, "asyncio / uvloop": 5})


def test_a_pass_through_frame_that_is_itself_running_is_charged():
    steps, _ = charge(Counter({f"{ENTRY};DocsPolicyMiddleware.__call__ (service/api/docs_policy.py:40)": 1}))
    assert steps == Counter({"service/api/docs_policy.py: DocsPolicyMiddleware.__call__": 1})


def test_threads_asleep_are_not_counted():
    steps, libraries = charge(Counter({
        "thread (0x1);_bootstrap (threading.py:1);Condition.wait (threading.py:320)": 7,
        "thread (0x2);run (workers/batcher.py:10);Session.run (onnxruntime/capi/x.py:220)": 4,
    }))
    assert steps == Counter({"workers/batcher.py: run": 4})
    assert libraries == Counter({"ONNX Runtime": 4})


def test_breakdown_turns_shares_into_milliseconds_and_keeps_the_rest(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("a (service/x.py:1) 3\nb (service/y.py:1) 1\nnot a sample line\n")
    rows = breakdown(Counter({"a": 3, "b": 1}), 8.0, top=1)
    assert read_raw(raw) == Counter({"a (service/x.py:1)": 3, "b (service/y.py:1)": 1})
    assert [(r["name"], r["ms_per_image"]) for r in rows] == [("a", 6.0), ("everything else", 2.0)]


def test_the_server_entry_and_wrapped_send_callables_pass_through():
    stacks = Counter({
        "serve (service/api/server.py:50);Runner.run (asyncio/runners.py:118)": 2,
        "serve (service/api/server.py:50);BodyLimitMiddleware.__call__.<locals>.guarded_send "
        "(service/api/body_limit.py:60);RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:460)": 3,
    })
    steps, _ = charge(stacks)
    assert steps == Counter({"(no frame of ours) asyncio / uvloop": 2, "(no frame of ours) uvicorn (HTTP server)": 3})
