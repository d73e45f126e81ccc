"""``create_app``: the FastAPI application factory of the traceability / QA API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

import linecheck
from linecheck.serving.api.background import start_pruning
from linecheck.serving.api.context import ApiContext
from linecheck.serving.api.docs import install_docs
from linecheck.serving.api.errors import install_error_handlers
from linecheck.serving.api.headers import outermost
from linecheck.serving.api.json_body import StrictJSONResponse
from linecheck.serving.api.metrics import ApiMetrics, MetricsMiddleware
from linecheck.serving.api.pages.router import pages
from linecheck.serving.api.pages.router import router as pages_router
from linecheck.serving.api.root_path import RootPathMiddleware
from linecheck.serving.api.routes import (
    audits,
    events,
    genealogy,
    holds,
    images,
    inspections,
    lines,
    me,
    msa,
    review,
    shipping,
    trace,
    units,
)
from linecheck.serving.api.schemas import INGEST_ADAPTER
from linecheck.serving.api.services.health import ReadyOut, readiness
from linecheck.serving.api.settings import ApiSettings, get_api_settings

DESCRIPTION = """Traceability and QA review for linecheck's inspection lines.

Authenticate with `Authorization: Bearer <key>` (or `X-API-Key: <key>`); create keys with
`linecheck keys create --role line|reviewer|viewer [--line ID]`. Errors read
`{"error": {"type", "field", "value", "message"}}`.
"""


def _install_openapi(app: FastAPI) -> None:
    """Add the hand-parsed ingest body's schema to the generated OpenAPI document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        body = INGEST_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(body.pop("$defs", {}))
        components["IngestBody"] = body
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the API for ``settings`` (default: from the environment).

    Nothing touches the database until start-up, when the schema is migrated to head and the
    line configs are synced (both can be turned off in the settings).
    """
    settings = settings or get_api_settings()
    metrics = ApiMetrics()
    context = ApiContext.build(settings, metrics)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(context.prestart)
        # a broken page file of a release stops the start, not one page's first request later
        await run_in_threadpool(pages)
        pruner = start_pruning(context)  # the image retention, when one is set
        try:
            yield
        finally:
            if pruner is not None:
                await pruner.stop()
            context.close()

    app = FastAPI(
        title="linecheck traceability API",
        version=linecheck.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        default_response_class=StrictJSONResponse,
        docs_url=None,  # served by install_docs from local files: the docs work offline
        redoc_url=None,
    )
    # outside every other layer, the framework's error middleware included: every response gets them
    app.build_middleware_stack = outermost(app.build_middleware_stack)  # type: ignore[method-assign]
    app.state.context = context
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if settings.root_path:  # behind a reverse proxy under a path
        app.add_middleware(RootPathMiddleware, root_path=settings.root_path)
    for module in (
        inspections,
        images,
        trace,
        review,
        audits,
        holds,
        msa,
        shipping,
        units,
        lines,
        genealogy,
        events,
        me,
    ):
        app.include_router(module.router)
    app.include_router(pages_router)  # the QA review pages at /review

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (it touches neither the database nor the disk; see `/readyz`)."""
        return {"status": "ok", "database": context.db.dialect}

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=ReadyOut,
        responses={503: {"model": ReadyOut}, 507: {"model": ReadyOut}},
    )
    async def readyz() -> JSONResponse:
        """Readiness: the database takes a write, the image store a file, and both disks have room.

        507 when something lacks space (a full disk, or less free space than
        `LINECHECK_API_MIN_FREE_DISK_MB`), 503 when something else is not ready; every check says
        what it found.
        """
        status, body = await run_in_threadpool(
            readiness, context.db, context.images, min_free_mb=settings.min_free_disk_mb
        )
        return JSONResponse(body.model_dump(), status_code=status)

    _install_openapi(app)
    install_docs(app)
    return app
