"""Images and ImageCollections computed in the backend from real GeoTIFFs (made here with rasterio)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.warp import Resampling, reproject

import asyncwf.workflows as wf
from asyncwf import Client
from asyncwf.exceptions import AlreadyExists, InvalidArgument, JobComputeError, NotFound
from asyncwf.workflows import GeoContext, Image, ImageCollection, ImageResult
from tests.workflows.rasters import BOUNDS, GRID, NODATA, UTC, bands, from_bounds, nodata_masked, write


async def _compute(client: Client, obj: Any, geoctx: GeoContext = GRID) -> Any:
    return await wf.compute(obj, geoctx=geoctx, client=client)


async def test_read_band_math_and_masks(catalog: Client) -> None:
    img = Image.from_id("scene:1")
    result = await _compute(catalog, img)
    assert isinstance(result, ImageResult) and list(result.bandinfo) == ["red", "green", "nir"]
    assert result.bandinfo["nir"] == {"name": "nir"}  # band name -> its info, as the original
    expected = nodata_masked(bands(1))
    assert result.ndarray.shape == (3, 40, 50) and result.geocontext == GRID
    assert (result.ndarray.mask == expected.mask).all() and np.ma.allclose(result.ndarray, expected)
    assert result.properties["cloud"] == 10 and result.properties["date"].startswith("2026-06-01")

    red, nir = img.pick_bands("red"), img.pick_bands(["nir"])
    ndvi = await _compute(catalog, (nir - red) / (nir + red))
    e_red, e_nir = expected[0], expected[2]
    assert np.ma.allclose(ndvi.ndarray[0], (e_nir - e_red) / (e_nir + e_red))
    scaled = await _compute(catalog, (img * 2 + 1).clip(0, 100).sqrt().log())
    assert np.ma.allclose(scaled.ndarray, np.ma.log(np.ma.sqrt(np.ma.clip(expected * 2 + 1, 0, 100))))
    masked = await _compute(catalog, img.mask(red > 40))
    assert masked.ndarray.mask.sum() == (expected.mask | (np.ma.filled(e_red > 40, True)[None])).sum()
    chosen = await _compute(catalog, wf.where(red > 40, red, 0.0).fill(-1))
    assert np.allclose(chosen.ndarray[0], np.where(np.ma.filled(e_red > 40, False), e_red.filled(-1), 0.0))
    renamed = await _compute(catalog, img.rename_bands("r", "g", "n").pick_bands("n"))
    assert list(renamed.bandinfo) == ["n"]
    logic = await _compute(catalog, (red > 10) & ~(red > 60) | (red == 5))
    assert set(np.unique(logic.ndarray.compressed())) <= {0.0, 1.0}


async def test_reductions_properties_and_errors(catalog: Client) -> None:
    img = Image.from_id("scene:2")
    expected = nodata_masked(bands(2))
    means = await _compute(catalog, img.mean(axis="pixels"))
    assert means == pytest.approx({b: float(expected[i].mean()) for i, b in enumerate(["red", "green", "nir"])})
    assert await _compute(catalog, img.mean()) == pytest.approx(float(expected.mean()))  # axis=None: everything
    assert await _compute(catalog, img.count(axis="pixels")) == {"red": 1988, "green": 1988, "nir": 1988}
    assert await _compute(catalog, img.properties["cloud"]) == 20
    assert await _compute(catalog, img.bandinfo) == {b: {"name": b} for b in ("red", "green", "nir")}
    assert await _compute(catalog, img.nbands) == 3
    with pytest.raises(JobComputeError, match="geocontext") as failed:
        await wf.compute(img, client=catalog)
    assert failed.value.code == "ERROR_INVALID"
    for bad, message in [(Image.from_id("nope"), "no image"), (img.pick_bands("blue"), "no bands blue")]:
        with pytest.raises(JobComputeError, match=message):
            await _compute(catalog, bad)
    with pytest.raises(wf.ProxyTypeError):
        img.reduction("mode")
    with pytest.raises(wf.ProxyTypeError):
        img + "one"  # type: ignore[operator]


async def test_collections(catalog: Client) -> None:
    june = ImageCollection.from_id("scenes", dt.datetime(2026, 6, 1, tzinfo=UTC), dt.datetime(2026, 6, 3, tzinfo=UTC))
    stack = np.ma.stack([nodata_masked(bands(1)), nodata_masked(bands(2))])
    assert await _compute(catalog, june.length()) == 2
    for name in ("mean", "median", "min", "max"):
        result = await _compute(catalog, getattr(june, name)(axis="images"))
        assert np.ma.allclose(result.ndarray, getattr(np.ma, name)(stack, axis=0)), name
    assert await _compute(catalog, june.mean()) == pytest.approx(float(stack.mean()))  # axis=None: everything
    per_image = await _compute(catalog, june.max(axis="pixels"))
    assert [d["red"] for d in per_image] == [float(stack[0, 0].max()), float(stack[1, 0].max())]
    with pytest.raises(wf.ProxyTypeError, match="axis is one of"):
        june.mean(axis="months")
    everything = ImageCollection.from_id("scenes")
    cloudy = everything.filter(lambda img: img.get_property("cloud", wf.Int) > 15)
    assert await _compute(catalog, cloudy.length()) == 2
    doubled = await _compute(catalog, everything.map(lambda img: img * 2).mean(axis="images"))
    assert np.ma.allclose(doubled.ndarray, 2 * np.ma.stack([nodata_masked(bands(d)) for d in (1, 2, 3)]).mean(axis=0))
    sums = await _compute(catalog, everything.map(lambda img: img.mean(axis="pixels")))
    assert len(sums) == 3 and sums[0]["green"] == 8.0
    mosaic = await _compute(catalog, everything.mosaic())
    assert np.ma.allclose(mosaic.ndarray, nodata_masked(bands(1)))  # the first image has data wherever any has
    images = await _compute(catalog, june)
    assert [r.properties["id"] for r in images] == ["scene:1", "scene:2"]
    assert (await _compute(catalog, everything[2])).properties["id"] == "scene:3"
    naive = ImageCollection.from_id("scenes", dt.datetime(2026, 6, 2), limit=5)  # naive: UTC, as the original
    assert [r.properties["id"] for r in await _compute(catalog, naive)] == ["scene:2", "scene:3"]
    assert await _compute(catalog, ImageCollection.from_id("scenes", limit=1).length()) == 1
    with pytest.raises(wf.ProxyTypeError, match="limit"):
        ImageCollection.from_id("scenes", limit="all")


async def test_reprojection_between_crss(catalog: Client, tmp_path: Path) -> None:
    """A Web Mercator tile read from an EPSG:4326 file matches rasterio's own reprojection."""
    tile = GeoContext.from_xyz_tile(529, 366, 10, tilesize=64)  # over the scenes' area
    result = await _compute(catalog, Image.from_id("scene:1"))
    with rasterio.open(tmp_path / "scene1.tif") as src:
        expected = np.full((3, 64, 64), NODATA)
        reproject(source=src.read(), destination=expected, src_transform=src.transform, src_crs=src.crs,
                  dst_transform=from_bounds(*tile.bounds, 64, 64), dst_crs="EPSG:3857",
                  resampling=Resampling.nearest, src_nodata=NODATA, dst_nodata=NODATA)  # fmt: skip
    got = await _compute(catalog, Image.from_id("scene:1"), tile)
    assert got.ndarray.shape == (3, 64, 64) and result.ndarray.shape == (3, 40, 50)
    assert (got.ndarray.mask == (expected == NODATA)).all()
    assert np.allclose(got.ndarray.compressed(), expected[expected != NODATA])
    merc = await _compute(catalog, Image.from_id("merc").mean(axis="pixels"), GeoContext(
        (1113194.9, 5621521.5, 1224514.4, 5780349.2), "EPSG:3857", shape=(40, 50)))  # fmt: skip
    assert merc["green"] == 7.0


async def test_catalogue(catalog: Client, tmp_path: Path) -> None:
    images = await wf.list_images("scenes", client=catalog)
    assert [i["id"] for i in images] == ["scene:1", "scene:2", "scene:3"]
    record = await wf.get_image("merc", client=catalog)
    assert record["crs"] == "EPSG:3857" and record["bands"] == ["red", "green", "nir"]
    with pytest.raises(NotFound):
        await wf.get_image("missing", client=catalog)
    when = dt.datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(AlreadyExists):
        await wf.add_image(str(tmp_path / "scene1.tif"), "scene:1", "scenes", when, client=catalog)
    (tmp_path / "junk.tif").write_bytes(b"not a tiff")
    for args, kwargs in [
        ((str(tmp_path / "junk.tif"), "junk", "p", when), {}),
        ((str(tmp_path / "missing.tif"), "x", "p", when), {}),
        ((str(tmp_path / "scene1.tif"), "bad id!", "p", when), {}),
        ((str(tmp_path / "scene1.tif"), "two", "p", when), {"band_names": ["a", "b"]}),
        ((str(tmp_path / "scene1.tif"), "naive", "p", dt.datetime(2026, 1, 1)), {}),
        ((str(tmp_path / "scene1.tif"), "bands", "p", when), {"band_names": 5}),
        ((str(tmp_path / "scene1.tif"), 7, "p", when), {}),
    ]:
        with pytest.raises(InvalidArgument):
            await wf.add_image(*args, client=catalog, **kwargs)


def test_geocontext() -> None:
    tile = GeoContext.from_xyz_tile(0, 0, 0)
    assert tile.crs == "EPSG:3857" and tile.shape == (256, 256)
    assert tile.bounds == pytest.approx((-20037508.34, -20037508.34, 20037508.34, 20037508.34))
    ctx = GeoContext(BOUNDS, resolution=0.02)
    assert ctx.shape == (50, 50) and ctx.resolution == pytest.approx((0.02, 0.02))
    assert GeoContext.from_dict(ctx.to_dict()) == ctx and ctx.transform[2] == 10.0
    for bad in [lambda: GeoContext((1, 1, 0, 2), shape=(1, 1)), lambda: GeoContext(BOUNDS, "4326", shape=(1, 1)),
                lambda: GeoContext(BOUNDS), lambda: GeoContext(BOUNDS, resolution=0.1, shape=(1, 1)),
                lambda: GeoContext(BOUNDS, resolution=-1), lambda: GeoContext(BOUNDS, shape=(0, 1)),
                lambda: GeoContext(BOUNDS, resolution=1e-9), lambda: GeoContext.from_xyz_tile(2, 0, 1),
                lambda: GeoContext.from_xyz_tile(0, 0, 25),
                lambda: GeoContext.from_dict({"bounds": BOUNDS})]:  # fmt: skip
        with pytest.raises(InvalidArgument):
            bad()


def test_images_command_line(server_process: Any, tmp_path: Path) -> None:
    import asyncio
    import subprocess
    import sys

    server = server_process()
    path = tmp_path / "cli.tif"
    write(path, bands(5), BOUNDS, "EPSG:4326")

    def images(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "asyncwf._cli", "images", *args, "--port", str(server.port)]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    when = ["--acquired", "2026-06-05T10:00:00Z"]
    added = images("add", str(path), "--id", "cli:1", "--product", "cli", *when, "--bands", "red green nir",
                   "--properties", '{"sensor": "x"}')  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert [line for line in images("list", "--product", "cli").stdout.splitlines() if '"cli:1"' in line]
    again = images("add", str(path), "--id", "cli:1", "--product", "cli", *when)
    assert again.returncode == 1 and "already in the catalogue" in again.stderr
    assert images("add", str(path), "--id", "cli:2", "--product", "cli", "--acquired", "2026").returncode != 0

    async def mean() -> Any:
        async with server.client() as client:
            return await wf.compute(Image.from_id("cli:1").mean(axis="pixels"), geoctx=GRID, client=client)

    assert asyncio.run(mean())["green"] == 12.0


async def test_the_raster_calls_ported_code_uses(catalog: Client) -> None:
    img = Image.from_id("scene:1", resampler="nearest", processing_level="surface")  # the original's names
    expected = nodata_masked(bands(1))
    over_bands = await _compute(catalog, img.mean(axis="bands"))
    assert list(over_bands.bandinfo) == ["mean"] and np.ma.allclose(over_bands.ndarray[0], expected.mean(axis=0))
    assert await _compute(catalog, img.max(axis=None)) == pytest.approx(float(expected.max()))
    assert await _compute(catalog, img.count(axis=("bands", "pixels"))) == int(expected.count())
    mask = await _compute(catalog, img.getmask())
    assert mask.ndarray[0, 0, 0] == 1.0 and mask.ndarray[0, 10, 10] == 0.0 and not mask.ndarray.mask.any()
    both = await _compute(catalog, img.pick_bands("red").concat_bands(img.pick_bands("nir")))
    assert list(both.bandinfo) == ["red", "nir"]
    red, nir = img.pick_bands("red"), img.pick_bands("nir")
    ndvi = await _compute(catalog, nir.normalized_difference(red))
    want = (expected[2] - expected[0]) / (expected[2] + expected[0])
    assert np.ma.allclose(ndvi.ndarray[0], want)
    scenes = ImageCollection.from_id("scenes")
    picked = await _compute(catalog, scenes.pick_bands("nir green"))
    assert [list(r.bandinfo) for r in picked] == [["nir", "green"]] * 3
    shifted = await _compute(catalog, (scenes * 2 + 1).mean(axis="images"))
    assert np.ma.allclose(shifted.ndarray, np.ma.mean([nodata_masked(bands(d)) * 2 + 1 for d in (1, 2, 3)], axis=0))
    with pytest.raises(wf.ProxyTypeError, match="axis"):
        img.mean(axis="rows")


async def test_a_geocontext_with_bounds_in_another_crs(catalog: Client) -> None:
    merc = GeoContext(BOUNDS, "EPSG:3857", shape=(40, 50), bounds_crs="EPSG:4326")  # the original's bounds_crs
    xmin, _, _, ymax = merc.bounds
    assert xmin == pytest.approx(1113194.9, abs=1) and ymax == pytest.approx(5780349.2, abs=1)
    back = GeoContext(merc.bounds, "EPSG:4326", shape=(40, 50), bounds_crs="EPSG:3857")
    assert back.bounds == pytest.approx(BOUNDS)
    utm = GeoContext(BOUNDS, "EPSG:32632", resolution=1000, bounds_crs="EPSG:4326")  # through rasterio
    assert 550_000 < utm.bounds[0] < 600_000
    result = await _compute(catalog, Image.from_id("merc"), merc)
    assert result.ndarray.shape == (3, 40, 50) and result.ndarray.count() > 0
    with pytest.raises(InvalidArgument, match="Web Mercator"):
        GeoContext((0, -89, 1, 89), "EPSG:3857", shape=(4, 4), bounds_crs="EPSG:4326")


async def test_collections_sort_and_group(catalog: Client) -> None:
    scenes = ImageCollection.from_id("scenes")
    by_cloud = await _compute(catalog, scenes.sorted(key=lambda img: img.get_property("cloud"), reverse=True))
    assert [r.properties["cloud"] for r in by_cloud] == [30, 20, 10]
    groups = await _compute(catalog, scenes.groupby(lambda img: img.get_property("cloud") > 15))
    assert {k: [r.properties["id"] for r in v] for k, v in groups.items()} == {
        False: ["scene:1"], True: ["scene:2", "scene:3"]}  # fmt: skip


async def test_wf_numpy_functions_on_images_and_numbers(catalog: Client) -> None:
    red, nir = Image.from_id("scene:1").pick_bands("red"), Image.from_id("scene:1").pick_bands("nir")
    expected = nodata_masked(bands(1))
    root = await _compute(catalog, wf.numpy.sqrt(wf.numpy.add(nir, 1)))
    assert np.ma.allclose(root.ndarray[0], np.ma.sqrt(expected[2] + 1))
    ratio = await _compute(catalog, wf.numpy.true_divide(wf.numpy.subtract(nir, red), wf.numpy.add(nir, red)))
    assert np.ma.allclose(ratio.ndarray[0], (expected[2] - expected[0]) / (expected[2] + expected[0]))
    assert await wf.compute(wf.numpy.sqrt(wf.Float(16.0)), client=catalog) == 4.0
    assert await wf.compute(wf.numpy.absolute(wf.Int(-3)), client=catalog) == 3
    with pytest.raises(wf.ProxyTypeError):
        wf.numpy.add("a", "b")
