"""The raster catalogue: GeoTIFF / Cloud-Optimized GeoTIFF images registered by path, grouped in products.

An image is a document (collection ``raster_image``, id = the image id):
its path on the backend's filesystem (or a URL GDAL can read), product id,
acquisition time, band names, data type, nodata value, CRS, bounds and
properties — read from the file with rasterio when it is added. Image
evaluations receive a snapshot of the catalogue (see
:mod:`asyncwf.graft._raster`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from grpclib.server import Stream

from asyncwf import _json as fast_json
from asyncwf.exceptions import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from asyncwf.server.api._authz import TokenAuth
from asyncwf.server.api._jobs import CallTracker, _grpc_errors, _request
from asyncwf.server.store._store import Document, Store
from asyncwf.v1 import rasters_grpc
from asyncwf.v1 import rasters_pb2 as pb

__all__ = ["RasterCatalog", "RasterService"]

COLLECTION = "raster_image"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$")
_SNAPSHOT_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class RasterSources:
    """Where rasters may be registered from.

    Local files under ``roots`` (anywhere, when there are no roots and ``confined`` is
    False: auth off, one user); HTTP(S) URLs (read through GDAL's ``/vsicurl/``) only
    from ``hosts``; nothing else (no other GDAL virtual file systems).
    """

    roots: tuple[Path, ...] = ()
    hosts: tuple[str, ...] = ()
    confined: bool = False

    def resolve(self, path: str) -> str:
        """The path to store for ``path``, or :class:`PermissionDenied` (blocking: a worker thread)."""
        url = path[len("/vsicurl/") :] if path.startswith("/vsicurl/") else path if "://" in path else None
        if url is not None:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise PermissionDenied(f"rasters are local files or http(s) URLs, not {path!r}")
            if parts.hostname.lower() not in {h.lower() for h in self.hosts}:
                raise PermissionDenied(f"rasters are not read from {parts.hostname} (allow it with --raster-host)")
            return f"/vsicurl/{url}"
        if path.startswith("/vsi"):
            raise PermissionDenied("rasters are local files or http(s) URLs, not GDAL virtual file systems")
        real = Path(os.path.realpath(path))
        if not self.roots:
            if self.confined:
                raise PermissionDenied("no raster roots are configured (--raster-root): nothing may be registered")
            return str(real)
        if not any(real.is_relative_to(os.path.realpath(root)) for root in self.roots):
            raise PermissionDenied(f"{path} is not under a raster root")
        return str(real)


def _describe(path: str, sources: RasterSources) -> dict[str, Any]:
    """Check where a raster is and read its metadata (blocking: runs in a worker thread)."""
    path = sources.resolve(path)
    try:
        import rasterio
        from rasterio.errors import RasterioError
    except ImportError as exc:
        raise FailedPrecondition("this backend cannot read rasters: install asyncwf[raster] (numpy, rasterio)") from exc

    try:
        with rasterio.open(path) as src:
            if src.driver not in ("GTiff", "COG"):  # a VRT could name any file or URL
                raise InvalidArgument(f"{path} is a {src.driver} file; rasters are GeoTIFFs")
            if src.crs is None:
                raise InvalidArgument(f"{path} has no coordinate reference system")
            epsg = src.crs.to_epsg()
            return {
                "count": src.count, "dtype": src.dtypes[0], "nodata": src.nodata,
                "crs": f"EPSG:{epsg}" if epsg else src.crs.to_wkt(), "bounds": list(src.bounds),
                "shape": [src.height, src.width], "descriptions": list(src.descriptions), "path": path,
            }  # fmt: skip
    except (RasterioError, OSError) as exc:
        raise InvalidArgument(f"cannot read a raster at {path}: {exc}") from exc


class RasterCatalog:
    """Images by id, stored as documents."""

    def __init__(self, store: Store, sources: RasterSources | None = None) -> None:
        self.store = store
        self.sources = sources or RasterSources()
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
        info = await anyio.to_thread.run_sync(_describe, path, self.sources)
        names = list(band_names) or [d or f"b{i}" for i, d in enumerate(info["descriptions"], start=1)]
        if len(names) != info["count"] or len(set(names)) != len(names):
            raise InvalidArgument(f"the raster has {info['count']} bands: give as many distinct band names")
        record = {"id": image_id, "path": info["path"], "product_id": product_id, "acquired": acquired.isoformat(),
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
        properties = fast_json.loads(request.properties_json or b"{}", "properties")
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
