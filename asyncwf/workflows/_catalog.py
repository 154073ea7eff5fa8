"""Registering rasters with the backend's catalogue: ``await add_image(path, ...)``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from asyncwf.client import Client
from asyncwf.exceptions import InvalidArgument
from asyncwf.v1 import rasters_grpc
from asyncwf.v1 import rasters_pb2 as pb

__all__ = ["add_image", "get_image", "list_images"]


async def _call(client: Client | None, method: str, request: Any, *, idempotent: bool) -> Any:
    client = client or Client.get_default_client()
    return await client._unary(method, request, timeout=None, idempotent=idempotent,
                               service=rasters_grpc.RasterServiceStub)  # fmt: skip


async def add_image(
    path: str, image_id: str, product_id: str, acquired: dt.datetime, *, band_names: Sequence[str] = (),
    properties: Mapping[str, Any] | None = None, client: Client | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Register the GeoTIFF / COG at ``path`` (as the backend sees it) as image ``image_id`` of
    ``product_id``, acquired at ``acquired`` (timezone-aware); returns its catalogue record."""
    if not isinstance(acquired, dt.datetime) or acquired.tzinfo is None:
        what = "a naive datetime" if isinstance(acquired, dt.datetime) else type(acquired).__name__
        raise InvalidArgument(f"acquired must be a timezone-aware datetime (tzinfo=datetime.UTC ...), not {what}")
    if isinstance(band_names, str):
        band_names = band_names.split()
    if not isinstance(band_names, list | tuple) or not all(isinstance(n, str) and n for n in band_names):
        raise InvalidArgument(f"band_names are names: 'red green' or ['red', 'green'], not {band_names!r}")
    for name, value in (("image_id", image_id), ("product_id", product_id), ("path", path)):
        if not isinstance(value, str) or not value:
            raise InvalidArgument(f"{name} must be a non-empty string, not {value!r}")
    try:
        props = json.dumps(dict(properties or {})).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"properties must be JSON: {exc}") from exc
    stamp = Timestamp()
    stamp.FromDatetime(acquired.astimezone(dt.UTC))
    request = pb.AddImageRequest(path=str(path), image_id=image_id, product_id=product_id, acquired=stamp,
                                 band_names=list(band_names), properties_json=props)  # fmt: skip
    reply = await _call(client, "AddImage", request, idempotent=False)
    return dict(json.loads(reply.json))


async def get_image(image_id: str, *, client: Client | None = None) -> dict[str, Any]:
    """The catalogue's record of one image (id, product, acquired, bands, bounds, properties ...)."""
    reply = await _call(client, "GetImage", pb.GetImageRequest(image_id=image_id), idempotent=True)
    return dict(json.loads(reply.json))


async def list_images(product_id: str = "", *, client: Client | None = None) -> list[dict[str, Any]]:
    """The catalogue's images (of one product when given), oldest first."""
    reply = await _call(client, "ListImages", pb.ListImagesRequest(product_id=product_id), idempotent=True)
    return [dict(json.loads(image.json)) for image in reply.images]
