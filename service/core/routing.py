"""The routing table: each kind of job, the Celery task that runs it and the queue it waits in.

The API enqueues by task name (it imports no task code) and the workers register their tasks
under the same names, so this table is the one place where the two meet.
"""

from dataclasses import dataclass

from service.core.jobs import JobKind

INFERENCE_QUEUE = "inference"
# Large translations and upscales wait here, consumed by workers with a small concurrency of their
# own (`make run` starts one), so they never hold every thread that small jobs need.
HEAVY_INFERENCE_QUEUE = "inference-heavy"
TRAINING_QUEUE = "training"
ALL_QUEUES = (INFERENCE_QUEUE, HEAVY_INFERENCE_QUEUE, TRAINING_QUEUE)


@dataclass(frozen=True)
class Route:
    task: str
    queue: str


ROUTES: dict[JobKind, Route] = {
    "generate": Route("ganforge.inference.generate", INFERENCE_QUEUE),
    "translate": Route("ganforge.inference.translate", INFERENCE_QUEUE),
    "upscale": Route("ganforge.inference.upscale", INFERENCE_QUEUE),
    "train": Route("ganforge.training.train", TRAINING_QUEUE),
    "evaluate": Route("ganforge.training.evaluate", TRAINING_QUEUE),
    "infer": Route("ganforge.inference.infer", INFERENCE_QUEUE),  # Open Inference Protocol v2
    "register_model": Route("ganforge.models.register", INFERENCE_QUEUE),  # an uploaded ONNX file, checked
    # Another project's checkpoint: torch loads, converts and exports it, as at the end of a training.
    "import_model": Route("ganforge.models.import", TRAINING_QUEUE),
}

# Short POSTs to webhook receivers ride the inference queue: never behind a training run.
WEBHOOK_ROUTE = Route("ganforge.webhooks.deliver", INFERENCE_QUEUE)


# Kinds whose time and memory grow with the image they make.
SIZED_KINDS: frozenset[JobKind] = frozenset({"translate", "upscale"})


# Short jobs the API coalesces (service/api/jobs/coalescer.py): one message to the kind's `.many` task
# carries several job ids as its first argument, each job keeping its own record and lease.
COALESCED_KINDS: frozenset[JobKind] = frozenset({"generate"})


def coalesced_task(kind: JobKind) -> str:
    return f"{ROUTES[kind].task}.many"


def route_of(kind: JobKind) -> Route:
    return ROUTES[kind]


def route_by_size(kind: JobKind, output_pixels: int, heavy_pixels: int) -> Route:
    """The route of a job making an image of `output_pixels`: a sized kind at or past
    `heavy_pixels` (GANFORGE_HEAVY_PIXELS) waits in the heavy queue, decided by the API."""
    route = ROUTES[kind]
    if kind in SIZED_KINDS and output_pixels >= heavy_pixels:
        return Route(route.task, HEAVY_INFERENCE_QUEUE)
    return route


def task_routes() -> dict[str, dict[str, str]]:
    """Celery's `task_routes`: every task name to its queue."""
    routes = {route.task: {"queue": route.queue} for route in ROUTES.values()}
    routes[WEBHOOK_ROUTE.task] = {"queue": WEBHOOK_ROUTE.queue}
    routes.update({coalesced_task(kind): {"queue": ROUTES[kind].queue} for kind in COALESCED_KINDS})
    return routes
