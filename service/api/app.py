"""The API: `create_app(settings)` builds it; `uvicorn --factory service.api.app:create_app` serves it."""

from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from service.api.errors import install_error_handlers
from service.api.routers import (
    datasets,
    evaluate,
    events,
    generate,
    health,
    jobs,
    models,
    oip_v2,
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
        # Endpoints are plain functions run in threads (the stores are synchronous); `Prefer: wait`
        # holds a thread while it waits, so allow many more than the default 40.
        anyio.to_thread.current_default_thread_limiter().total_tokens = 256
        app.state.ganforge = ApiState.build(settings)
        yield
        app.state.ganforge.redis.close()

    app = FastAPI(
        title="GANForge",
        version="0.1.0",
        summary="Serve and train GANs over HTTP: jobs queued through Redis to Celery workers running ONNX Runtime.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for module in (generate, upscale, translate, jobs, events, train, evaluate, models, datasets, health, oip_v2):
        app.include_router(module.router)
    return app


def main() -> None:
    """`python -m service.api.app`: serve with the settings from the environment."""
    import uvicorn

    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
