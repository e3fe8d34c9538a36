"""Detections from onboard AI, a ground AI service or a person: submit (idempotent on
``idempotency_key``), list, read, and fetch the stored image (authorised tokens only, within
their communities). Submitting needs an operator, tester or admin token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.api.deps import FlightPlanner, Reader
from app.api.guard import CheckedRoute, UtcInstant
from app.api.responses import TOKEN_ROUTES, errors
from app.services.detections import DetectionIn, DetectionService

router = APIRouter(
    prefix="/detections", tags=["detections"], route_class=CheckedRoute, responses=TOKEN_ROUTES
)

DetectionId = Annotated[int, Path(ge=1, le=2**62)]
Lon = Annotated[float, Field(ge=-180, le=180, strict=True)]  # strict: a string is not a coordinate
Lat = Annotated[float, Field(ge=-90, le=90, strict=True)]


def _service(request: Request) -> DetectionService:
    service: DetectionService = request.app.state.detections
    return service


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is a 422, never silently dropped
    type: Literal["Point"]
    coordinates: tuple[Lon, Lat]


class PolygonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["Polygon"]
    coordinates: list[Annotated[list[tuple[Lon, Lat]], Field(min_length=4, max_length=1000)]] = Field(
        min_length=1, max_length=20
    )

    @field_validator("coordinates")
    @classmethod
    def _closed(cls, rings: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
        """RFC 7946 rings end where they start; shapely would close an open one silently."""
        for i, ring in enumerate(rings):
            if ring[0] != ring[-1]:
                raise ValueError(f"ring {i} is not closed: its last position must equal its first")
        return rings


class ImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, pattern=r"^https?://", max_length=2000)
    data_base64: str | None = Field(default=None, description="A JPEG or PNG, base64; size limited")

    @model_validator(mode="after")
    def _one(self) -> ImageIn:
        if (self.url is None) == (self.data_base64 is None):
            raise ValueError("give exactly one of url and data_base64")
        return self


class DetectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    idempotency_key: str = Field(min_length=1, max_length=200)
    type: str = Field(max_length=64, description="From AEROGRID_DETECTION_MIN_CONFIDENCE's catalogue")
    source: Literal["onboard_ai", "ground_ai", "person"] = "onboard_ai"
    confidence: float = Field(ge=0, le=1)
    detected_at: UtcInstant | None = Field(default=None, description="Default: now; no zone: UTC")
    position: PointIn | PolygonIn = Field(discriminator="type")
    drone_id: int | None = Field(default=None, ge=1, le=2**62)
    upload_id: int | None = Field(default=None, ge=1, le=2**62)
    image: ImageIn | None = None
    note: str | None = Field(default=None, max_length=2000)


@router.post("", status_code=201, responses=errors(403, 404, 413, 422))
async def submit_detection(
    request: Request, response: Response, principal: FlightPlanner, body: DetectionBody
) -> dict[str, Any]:
    """Store, file under its grid, open or join the detection alert (and open its work order);
    the same idempotency key again answers 200 with the first detection."""
    at = body.detected_at or datetime.now(UTC)
    detection = DetectionIn(
        idempotency_key=body.idempotency_key,
        type=body.type,
        source=body.source,
        confidence=body.confidence,
        detected_at=at if at.tzinfo is not None else at.replace(tzinfo=UTC),
        position=body.position.model_dump(mode="json"),
        drone_id=body.drone_id,
        upload_id=body.upload_id,
        image_url=body.image.url if body.image else None,
        image_base64=body.image.data_base64 if body.image else None,
        note=body.note,
    )
    out, created = await _service(request).submit(detection, principal)
    if not created:
        response.status_code = 200
    return out


@router.get("", responses=errors(403))
async def list_detections(
    request: Request,
    principal: Reader,
    type: Annotated[str | None, Query(max_length=64)] = None,
    alert_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[dict[str, Any]]:
    return await _service(request).search(
        principal, type_=type, alert_id=alert_id, limit=limit, before_id=before_id
    )


@router.get("/{detection_id:int}", responses=errors(403, 404))
async def get_detection(request: Request, principal: Reader, detection_id: DetectionId) -> dict[str, Any]:
    return await _service(request).get(detection_id, principal)


IMAGE_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "The image's bytes"}
}


@router.get(
    "/{detection_id:int}/image", responses={**IMAGE_CONTENT, **errors(403, 404)}, response_class=Response
)
async def get_detection_image(request: Request, principal: Reader, detection_id: DetectionId) -> Response:
    """The uploaded image (not a URL one), to tokens that may see the detection; read from the
    database, so any instance serves it. Its SHA-256 is its ETag."""
    image = await _service(request).image(detection_id, principal)
    headers = {"Cache-Control": "private, no-store", "ETag": f'"{image.sha256}"'}
    if image.stored_at is not None:
        headers["Last-Modified"] = format_datetime(image.stored_at.astimezone(UTC), usegmt=True)
    return Response(image.data, media_type=image.content_type, headers=headers)
