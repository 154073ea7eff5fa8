"""The map page of an XYZ layer, in headless Chromium (Debian's, driven by Playwright): tiles render with
the expected colours, the layer's name and colormap legend show, the errors group by message with
their tiles, and the backend's index links the layers."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage

import asyncwf.workflows as wf
from asyncwf import Client
from asyncwf.testing import LocalBackend
from asyncwf.workflows import XYZ, GeoContext, Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
TILE = (8, 5, 4)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[LocalBackend, Client]]:
    async with LocalBackend() as backend, backend.client() as client:
        xmin, ymin, xmax, ymax = GeoContext.from_xyz_tile(*TILE).bounds
        data = np.full((3, 256, 256), 0.0)
        data[0], data[1], data[2] = 200.0, 30.0, 90.0  # one colour everywhere
        transform = rasterio.Affine((xmax - xmin) / 256, 0.0, xmin, 0.0, -(ymax - ymin) / 256, ymax)
        with rasterio.open(tmp_path / "rgb.tif", "w", driver="GTiff", width=256, height=256, count=3,
                           dtype="float64", crs="EPSG:3857", transform=transform) as dst:  # fmt: skip
            dst.write(data)
        await wf.add_image(str(tmp_path / "rgb.tif"), "rgb", "p", dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                           band_names="r g b", client=client)  # fmt: skip
        yield backend, client


def _centre() -> tuple[float, float]:
    """Latitude and longitude of the middle of the tile."""
    x, y, z = TILE
    n = 2.0**z
    lon = (x + 0.5) / n * 360.0 - 180.0
    lat = float(np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * (y + 0.5) / n)))))
    return lat, lon


async def test_tiles_render_with_their_colours(browser: Any, served: tuple[LocalBackend, Client]) -> None:
    backend, client = served
    layer = XYZ.build(Image.from_id("rgb"), client=client)
    await layer.save()
    lat, lon = _centre()
    page = await browser.new_page(viewport={"width": 1000, "height": 600})
    scales = "[[0,255],[0,255],[0,255]]"
    await page.goto(f"{backend.http_url}/v1/xyz/{layer.id}/map?lat={lat}&lon={lon}&zoom={TILE[2]}&scales={scales}")
    await page.wait_for_selector("img.leaflet-tile-loaded", timeout=20_000)
    await page.wait_for_function("document.querySelectorAll('img.leaflet-tile-loaded').length >= 1")
    shot = np.asarray(PILImage.open(io.BytesIO(await page.screenshot())).convert("RGB"))
    centre = shot[300, 340]  # the middle of the map area (the panel takes the right 320 pixels)
    assert tuple(int(v) for v in centre) == (200, 30, 90)
    assert await page.text_content("#status") == "listening"
    await page.close()


async def test_a_failing_tile_shows_its_error(browser: Any, served: tuple[LocalBackend, Client]) -> None:
    backend, client = served
    layer = XYZ.build(Image.from_id(wf.parameter("image", wf.Str)), client=client)
    await layer.save()
    lat, lon = _centre()
    page = await browser.new_page(viewport={"width": 1000, "height": 600})
    url = layer.map_url("browser", lat=lat, lon=lon, zoom=TILE[2], image="missing")
    assert url.startswith(f"{backend.http_url}/v1/xyz/{layer.id}/map?session_id=browser&")
    await page.goto(url)
    await page.wait_for_selector("#errors li.error", timeout=20_000)
    # Every tile in view fails alike: one line for the error, with the count of tiles that had it.
    await page.wait_for_function("document.querySelector('#errors li.error .count').textContent !== ''")
    assert await page.locator("#errors li.error").count() == 1
    text = await page.text_content("#errors li.error .message")
    assert text is not None and text.startswith("INVALID: ") and "no image 'missing'" in text
    count = await page.text_content("#errors li.error .count")
    assert count is not None and int(count.strip().lstrip("\u00d7")) >= 2
    tiles = await page.text_content("#errors li.error .tiles")
    # The first tiles that failed, as z/x/y (which ones first depends on the browser's loading order):
    # the tiles in view around the centre, at most five listed, "..." for the rest.
    listed = re.findall(r"(\d+)/(\d+)/(\d+)", tiles or "")
    assert 1 <= len(listed) <= 5, tiles
    for z, x, y in listed:
        assert int(z) == TILE[2] and abs(int(x) - TILE[0]) <= 3 and abs(int(y) - TILE[1]) <= 3, tiles
    assert not (tiles or "").endswith("...") or len(listed) == 5, tiles  # "..." only after five
    await page.close()


async def test_the_index_lists_the_layers_with_links_to_their_maps(
    browser: Any, served: tuple[LocalBackend, Client]
) -> None:
    backend, client = served
    layer = XYZ.build(Image.from_id("rgb"), name="true colour", client=client)
    await layer.save()
    page = await browser.new_page()
    await page.goto(f"{backend.http_url}/")
    link = page.get_by_role("link", name="true colour")
    assert await link.get_attribute("href") == f"/v1/xyz/{layer.id}/map"
    await link.click()
    await page.wait_for_selector("#status")
    assert page.url == f"{backend.http_url}/v1/xyz/{layer.id}/map"
    await page.close()


async def test_the_page_names_the_layer_and_draws_the_colormap_legend(
    browser: Any, served: tuple[LocalBackend, Client]
) -> None:
    import matplotlib

    _, client = served
    layer = XYZ.build(Image.from_id("rgb").pick_bands("r"), name="red <band>", client=client)
    await layer.save()
    lat, lon = _centre()
    page = await browser.new_page(viewport={"width": 1000, "height": 600})
    await page.goto(layer.map_url(colormap="viridis", scales=[[0, 400]], lat=lat, lon=lon, zoom=TILE[2]))
    assert await page.text_content("#layer") == "red <band>" and await page.title() == "red <band> · asyncwf"
    await page.wait_for_function("document.querySelector('#legend img').naturalWidth === 256")
    assert await page.text_content("#low") == "0" and await page.text_content("#high") == "400"
    viridis = np.round(matplotlib.colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3] * 255)
    strip = np.asarray(PILImage.open(io.BytesIO(await page.locator("#legend img").screenshot())).convert("RGB"))
    row = strip[strip.shape[0] // 2].astype(int)
    for x in (2, 128, row.shape[0] - 3):  # inside the 1-pixel border: the strip's x - 1
        assert np.abs(row[x] - viridis[x - 1]).max() <= 3, (x, row[x], viridis[x - 1])
    # The tile itself: 200 of 0..400 is the middle of viridis.
    await page.wait_for_selector("img.leaflet-tile-loaded", timeout=20_000)
    shot = np.asarray(PILImage.open(io.BytesIO(await page.screenshot())).convert("RGB")).astype(int)
    assert np.abs(shot[300, 340] - viridis[128]).max() <= 3, shot[300, 340]
    await page.close()


async def test_without_a_place_the_map_fits_the_images_the_layer_reads(
    browser: Any, served: tuple[LocalBackend, Client]
) -> None:
    _, client = served
    layer = XYZ.build(Image.from_id("rgb"), client=client)
    await layer.save()
    page = await browser.new_page(viewport={"width": 1000, "height": 600})
    await page.goto(layer.map_url(scales=[[0, 255], [0, 255], [0, 255]]))
    await page.wait_for_selector("img.leaflet-tile-loaded", timeout=20_000)
    zoom = await page.evaluate("window.asyncwfMap.getZoom()")
    centre = await page.evaluate("[window.asyncwfMap.getCenter().lat, window.asyncwfMap.getCenter().lng]")
    lat, lon = _centre()
    assert zoom >= TILE[2] - 1 and abs(centre[0] - lat) < 1 and abs(centre[1] - lon) < 1, (zoom, centre)
    shot = np.asarray(PILImage.open(io.BytesIO(await page.screenshot())).convert("RGB"))
    assert tuple(int(v) for v in shot[300, 340]) == (200, 30, 90)  # the image fills the middle of the map
    await page.close()


def test_layer_bounds_come_from_literal_ids_only() -> None:
    from asyncwf.server.raster._bounds import layer_bounds

    records = {"a": {"id": "a", "product_id": "p", "crs": "EPSG:4326", "bounds": [1.0, 2.0, 3.0, 4.0]},
               "b": {"id": "b", "product_id": "p", "crs": "EPSG:4326", "bounds": [5.0, -1.0, 6.0, 0.0]},
               "c": {"id": "c", "product_id": "q", "bounds": [0, 0, 1, 1]}}  # fmt: skip
    assert layer_bounds(Image.from_id("a").graft, records) == [1.0, 2.0, 3.0, 4.0]
    assert layer_bounds(wf.ImageCollection.from_id("p").mean().graft, records) == [1.0, -1.0, 6.0, 4.0]
    assert layer_bounds(Image.from_id(wf.parameter("image", wf.Str)).graft, records) is None
    assert layer_bounds(Image.from_id("c").graft, records) is None  # no CRS: cannot be placed
