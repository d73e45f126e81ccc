"""``/v1/images``: content-addressed upload and download of frames and crops."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from linecheck.errors import ImageStoreError
from linecheck.serving.api.bodies import read_body
from linecheck.serving.api.deps import ContextDep, LineKeyDep, ReaderKeyDep
from linecheck.serving.api.responses import ImageRefOut
from linecheck.serving.api.services.images import load_image, store_image
from linecheck.serving.store.images import ImageStoreFullError

router = APIRouter(prefix="/v1/images", tags=["images"])


@router.post(
    "",
    status_code=201,
    response_model=ImageRefOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def post_image(
    request: Request, response: Response, key: LineKeyDep, context: ContextDep
) -> ImageRefOut:
    """Store a PNG or JPEG sent as the raw body; 201 when new, 200 when already stored.

    **413** above `max_image_bytes`; **507** when the image store is full (inspections that refer
    to the image are still accepted; `linecheck_image_store_errors_total` counts the failures).
    """
    data = await read_body(request, context.settings.max_image_bytes)
    try:
        stored = await run_in_threadpool(
            store_image,
            context.db,
            context.images,
            data,
            declared=request.headers.get("content-type"),
            max_bytes=context.settings.max_image_bytes,
            key=key,
        )
    except ImageStoreError as exc:
        reason = "full" if isinstance(exc, ImageStoreFullError) else "io"
        context.metrics.image_store_errors.labels(reason).inc()
        raise
    response.status_code = 201 if stored.status == "created" else 200
    return ImageRefOut(ref=stored.ref, content_type=stored.content_type, status=stored.status)


@router.get(
    "/{ref}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}, 410: {"description": "expired"}},
)
def get_image(ref: str, _key: ReaderKeyDep, context: ContextDep) -> Response:
    """The image stored under ``ref`` (immutable, so it may be cached for ever).

    **410** when the image retention expired it (the message names the setting); the records
    that refer to it are kept and carry `image_expired_at` / `crop_expired_at` / `heatmap_expired_at`.
    """
    image = load_image(context.db, context.images, ref)
    return Response(
        image.data,
        media_type=image.content_type,
        headers={"Cache-Control": "private, max-age=31536000, immutable", "ETag": f'"{ref}"'},
    )
