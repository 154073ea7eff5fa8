"""The raster catalogue the workflows tests compute in: three scenes and a Web Mercator image (real GeoTIFFs,
written with rasterio)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

import asyncwf.workflows as wf
from asyncwf import Client
from asyncwf.testing import LocalBackend
from asyncwf.workflows import GeoContext

UTC = dt.UTC
BOUNDS = (10.0, 45.0, 11.0, 46.0)
NODATA = -9999.0
GRID = GeoContext(BOUNDS, "EPSG:4326", shape=(40, 50))


def bands(seed: int) -> np.ndarray:
    rows, cols = np.mgrid[0:40, 0:50].astype("f8")
    red = rows + cols + seed
    nir = 2 * red + 1
    green = np.full_like(red, 7.0 + seed)
    data = np.stack([red, green, nir])
    data[:, :3, :4] = NODATA  # a corner without data
    return data


def from_bounds(xmin: float, ymin: float, xmax: float, ymax: float, width: int, height: int) -> Any:
    """The north-up transform of a grid (rasterio's own helper warns with affine 3)."""
    return rasterio.Affine((xmax - xmin) / width, 0.0, xmin, 0.0, -(ymax - ymin) / height, ymax)


def write(path: Path, data: np.ndarray, bounds: tuple[float, ...], crs: str) -> None:
    count, height, width = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype="float64",
                       crs=crs, transform=from_bounds(*bounds, width, height), nodata=NODATA) as dst:  # fmt: skip
        dst.write(data)


def nodata_masked(data: np.ndarray) -> np.ma.MaskedArray:
    return np.ma.masked_equal(data, NODATA)


async def catalog_backend(tmp_path: Path) -> AsyncIterator[Client]:
    async with LocalBackend() as backend, backend.client() as client:
        for day in (1, 2, 3):
            path = tmp_path / f"scene{day}.tif"
            write(path, bands(day), BOUNDS, "EPSG:4326")
            when = dt.datetime(2026, 6, day, tzinfo=UTC)
            await wf.add_image(str(path), f"scene:{day}", "scenes", when, band_names=["red", "green", "nir"],
                               properties={"cloud": day * 10}, client=client)  # fmt: skip
        # the same kind of data, in Web Mercator
        merc = tmp_path / "merc.tif"
        write(merc, bands(0), (1113194.9, 5621521.5, 1224514.4, 5780349.2), "EPSG:3857")
        await wf.add_image(str(merc), "merc", "mercator", dt.datetime(2026, 6, 1, tzinfo=UTC),
                           band_names="red green nir", client=client)  # fmt: skip
        yield client
