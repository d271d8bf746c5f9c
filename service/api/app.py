"""The API: `create_app(settings)` builds it; `uvicorn --factory service.api.app:create_app` serves it."""

import gc
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from service.api.auth import AUTH_RESPONSES, authenticate
from service.api.body_limit import BodyLimitMiddleware
from service.api.content_type import install_json_bodies
from service.api.docs_policy import install_docs_policy
from service.api.drain import DrainOnTerm
from service.api.errors import install_error_handlers
from service.api.key_concurrency import KeyConcurrencyLimit
from service.api.memory import install_idle_trim
from service.api.metrics import install_metrics
from service.api.openapi_contract import install_contract
from service.api.rate_limit import RateLimitHeaders
from service.api.routers import api_keys as api_keys_router
from service.api.routers import (
    datasets,
    evaluate,
    events,
    generate,
    health,
    jobs,
    model_admin,
    model_import,
    models,
    oip_v2,
    studio,
    train,
    translate,
    upscale,
)
from service.api.state import ApiState
from service.core.logs import configure_logging
from service.core.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Routes that are plain functions run in threads (reading jobs, outputs, cancelling); allow
        # many more than the default 40.
        anyio.to_thread.current_default_thread_limiter().total_tokens = 256
        state = app.state.ganforge = ApiState.build(settings)
        state.check_keys()  # beyond loopback, no keys: refuse to start
        # The event loop's side: its Redis client, on which every job is created, and one
        # subscription per process that wakes every `Prefer: wait` and SSE stream (no thread each).
        state.start()
        # Everything built so far lives as long as the process: out of the collector's sight, a
        # full collection no longer walks it (~80 ms every ~1.5 s at c=32, the p99 in bench/REPORT.md).
        gc.freeze()
        app.state.idle_trim.start()  # a burst's freed heap goes back to the system once it is over
        yield
        await app.state.idle_trim.stop()
        await state.stop()

    app = FastAPIOffline(  # /docs and /redoc from the package's own Swagger UI and ReDoc files, no CDN
        title="GANForge",
        version="0.1.0",
        summary="Serve and train GANs over HTTP: jobs queued through Redis to Celery workers running ONNX Runtime.",
        lifespan=lifespan,
        dependencies=[Depends(authenticate)],  # every route needs a key but auth.PUBLIC_ROUTES
        responses=AUTH_RESPONSES,
    )
    install_error_handlers(app)
    install_docs_policy(app)  # /docs and /redoc never reach beyond this origin
    install_metrics(app)  # GET /metrics, request timings
    install_idle_trim(app, settings.api_trim_idle_s)  # malloc_trim after a quiet spell (service/api/memory.py)
    app.add_middleware(BodyLimitMiddleware, limit_of=body_limits(settings))
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(DrainOnTerm)  # SIGTERM: stop accepting, close each connection after its answer, then stop
    app.add_middleware(KeyConcurrencyLimit, limit=settings.api_max_requests_per_key)  # 429 past it, per process
    install_json_bodies(app)  # JSON routes answer 415 to other bodies; before the routers are included
    install_contract(app)  # the schema states the statuses and key requirements routes cannot state themselves
    # Requests are matched against routers in this order: the busiest come first.
    for module in (generate, jobs, upscale, translate, events, train, evaluate, models, datasets, health, studio,
                   oip_v2, model_admin, model_import, api_keys_router):
        app.include_router(module.router)
    return app


def body_limits(settings: Settings):
    """The most bytes a request body to each path may have: images (base64 is 4/3 of the bytes)
    and dataset uploads have their own caps, every other body is small JSON."""
    image = settings.max_image_bytes * 4 // 3 + (64 << 10)
    upload = settings.max_upload_bytes + (1 << 20)

    def limit_of(path: str) -> int:
        if path.startswith("/datasets"):
            return upload
        if path in ("/translate", "/upscale"):
            return image
        if path.startswith("/models/") and path.endswith("/import"):
            return 2 * settings.max_checkpoint_bytes + (1 << 20)  # up to two checkpoint files and the form fields
        if path.startswith("/models/"):
            return settings.max_model_bytes + (1 << 20)  # an uploaded ONNX file and its manifest
        if path.startswith("/v2/"):
            return oip_v2.MAX_BODY_BYTES  # tensors, as JSON numbers or binary
        return settings.max_json_bytes

    return limit_of


def main() -> None:
    """`python -m service.api.app`: serve with the settings from the environment (service/api/server.py:
    processes, graceful shutdown, rolling restarts)."""
    from service.api.server import serve

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    serve(settings)


if __name__ == "__main__":
    main()
