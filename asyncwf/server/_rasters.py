"""The raster catalogue: GeoTIFF / Cloud-Optimized GeoTIFF images registered by path, grouped in products.

An image is a document (collection ``raster_image``, id = the image id):
its path on the backend's filesystem (or a URL GDAL can read), product id,
acquisition time, band names, data type, nodata value, CRS, bounds and
properties — read from the file with rasterio when it is added. Image
evaluations receive a snapshot of the catalogue (see
:mod:`asyncwf.workflows._raster_eval`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
from grpclib.server import Stream

from asyncwf.exceptions import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from asyncwf.server._grpc import CallTracker, TokenAuth, _grpc_errors, _request
from asyncwf.server._store import Document, Store
from asyncwf.v1 import rasters_grpc
from asyncwf.v1 import rasters_pb2 as pb

__all__ = ["RasterCatalog", "RasterService"]

COLLECTION = "raster_image"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$")
_SNAPSHOT_SECONDS = 2.0


def _describe(path: str) -> dict[str, Any]:
    """Read a raster's metadata (blocking: runs in a worker thread)."""
    try:
        import rasterio
        from rasterio.errors import RasterioError
    except ImportError as exc:
        raise FailedPrecondition("this backend cannot read rasters: install asyncwf[raster] (numpy, rasterio)") from exc

    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise InvalidArgument(f"{path} has no coordinate reference system")
            epsg = src.crs.to_epsg()
            return {
                "count": src.count, "dtype": src.dtypes[0], "nodata": src.nodata,
                "crs": f"EPSG:{epsg}" if epsg else src.crs.to_wkt(), "bounds": list(src.bounds),
                "shape": [src.height, src.width], "descriptions": list(src.descriptions),
            }  # fmt: skip
    except (RasterioError, OSError) as exc:
        raise InvalidArgument(f"cannot read a raster at {path}: {exc}") from exc


class RasterCatalog:
    """Images by id, stored as documents."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._snapshot: dict[str, dict[str, Any]] | None = None
        self._taken = 0.0

    async def add(
        self, path: str, image_id: str, product_id: str, acquired: dt.datetime,
        band_names: Sequence[str] = (), properties: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        for name, value in (("image id", image_id), ("product id", product_id)):
            if not isinstance(value, str) or not _ID.match(value):
                raise InvalidArgument(f"a {name} is 1-200 letters, digits and _.:/-, not {value!r}")
        if acquired.tzinfo is None:
            raise InvalidArgument("the acquisition time must be timezone-aware")
        if not isinstance(path, str) or not path:
            raise InvalidArgument("give the raster's path")
        info = await anyio.to_thread.run_sync(_describe, path)
        names = list(band_names) or [d or f"b{i}" for i, d in enumerate(info["descriptions"], start=1)]
        if len(names) != info["count"] or len(set(names)) != len(names):
            raise InvalidArgument(f"the raster has {info['count']} bands: give as many distinct band names")
        record = {"id": image_id, "path": path, "product_id": product_id, "acquired": acquired.isoformat(),
                  "bands": names, "dtype": info["dtype"], "nodata": info["nodata"], "crs": info["crs"],
                  "bounds": info["bounds"], "shape": info["shape"], "properties": dict(properties or {})}  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        doc = Document(COLLECTION, image_id, f"{product_id}/{acquired.isoformat()}", record, created_at=now,
                       updated_at=now)  # fmt: skip
        try:
            await self.store.insert_document(doc)
        except AlreadyExists as exc:
            raise AlreadyExists(f"image {image_id!r} is already in the catalogue") from exc
        self._snapshot = None
        return record

    async def get(self, image_id: str) -> dict[str, Any]:
        doc = await self.store.get_document(COLLECTION, image_id)
        if doc is None:
            raise NotFound(f"no image {image_id!r}")
        return dict(doc.body)

    async def list(self, product_id: str = "") -> list[dict[str, Any]]:
        docs = await self.store.list_documents(COLLECTION, name_prefix=f"{product_id}/" if product_id else "",
                                               limit=100_000)  # fmt: skip
        return sorted((dict(d.body) for d in docs), key=lambda r: (r["acquired"], r["id"]))

    async def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every image by id, as image evaluations see them (re-read every couple of seconds)."""
        if self._snapshot is None or time.monotonic() - self._taken > _SNAPSHOT_SECONDS:
            self._snapshot = {r["id"]: r for r in await self.list()}
            self._taken = time.monotonic()
        return self._snapshot


def _image_pb(record: Mapping[str, Any]) -> pb.Image:
    return pb.Image(json=json.dumps(record).encode())


class RasterService(rasters_grpc.RasterServiceBase):
    """``asyncwf.v1.RasterService``: register and look up images (any authenticated caller)."""

    def __init__(self, catalog: RasterCatalog, auth: TokenAuth) -> None:
        self.catalog = catalog
        self.auth = auth
        self.calls = CallTracker()

    @_grpc_errors
    async def AddImage(self, stream: Stream[pb.AddImageRequest, pb.Image]) -> None:
        self.auth.identify(stream.metadata or {})
        request = await _request(stream)
        if not request.HasField("acquired"):
            raise InvalidArgument("an image needs its acquisition time")
        try:
            properties = json.loads(request.properties_json or b"{}")
        except ValueError as exc:
            raise InvalidArgument(f"properties must be a JSON object: {exc}") from exc
        if not isinstance(properties, dict):
            raise InvalidArgument("properties must be a JSON object")
        acquired = request.acquired.ToDatetime(dt.UTC)
        record = await self.catalog.add(request.path, request.image_id, request.product_id, acquired,
                                        list(request.band_names), properties)  # fmt: skip
        await stream.send_message(_image_pb(record))

    @_grpc_errors
    async def GetImage(self, stream: Stream[pb.GetImageRequest, pb.Image]) -> None:
        self.auth.identify(stream.metadata or {})
        request = await _request(stream)
        await stream.send_message(_image_pb(await self.catalog.get(request.image_id)))

    @_grpc_errors
    async def ListImages(self, stream: Stream[pb.ListImagesRequest, pb.ImageList]) -> None:
        self.auth.identify(stream.metadata or {})
        request = await _request(stream)
        records = await self.catalog.list(request.product_id)
        await stream.send_message(pb.ImageList(images=[_image_pb(r) for r in records]))
