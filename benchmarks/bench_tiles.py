"""XYZ tiles: band math + colormap from a COG through asyncwf's HTTP tile endpoint, beside TiTiler serving
the same tiles over HTTP under uvicorn and rio-tiler (the engine inside TiTiler) rendering them directly,
each in its own virtualenv; and how soon a tile error reaches an ``iter_tile_errors`` consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from benchmarks._util import ROOT, Row, asyncwf_server, peer_python, percentile

ZOOM = 12
ORIGIN = (2130, 1430)  # the top-left tile of the COG at ZOOM
SPAN = 4  # the COG covers SPAN x SPAN tiles


def _make_cog(path: Path) -> None:
    import numpy as np
    import rasterio

    from asyncwf.workflows import GeoContext

    first = GeoContext.from_xyz_tile(ORIGIN[0], ORIGIN[1], ZOOM)
    last = GeoContext.from_xyz_tile(ORIGIN[0] + SPAN - 1, ORIGIN[1] + SPAN - 1, ZOOM)
    xmin, ymax = first.bounds[0], first.bounds[3]
    xmax, ymin = last.bounds[2], last.bounds[1]
    size = 256 * SPAN
    rng = np.random.default_rng(1)
    data = rng.integers(100, 4000, size=(3, size, size)).astype("uint16")
    transform = rasterio.Affine((xmax - xmin) / size, 0.0, xmin, 0.0, -(ymax - ymin) / size, ymax)
    with rasterio.open(path, "w", driver="COG", width=size, height=size, count=3, dtype="uint16",
                       crs="EPSG:3857", transform=transform, blocksize=256) as dst:  # fmt: skip
        dst.write(data)


async def _ours(path: Path, tiles: list[tuple[int, int]], repeats: int, rows: list[Row]) -> None:
    from asyncwf import Client

    with asyncwf_server("--http-port", "0") as server:
        async with Client("127.0.0.1", server["port"]) as client:
            await _layer_and_tiles(client, path, tiles, repeats, rows)


async def _layer_and_tiles(client: Any, path: Path, tiles: list[tuple[int, int]], repeats: int,
                           rows: list[Row]) -> None:  # fmt: skip

    import asyncwf.workflows as wf

    await wf.add_image(str(path), "cog", "bench", dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                       band_names="b1 b2 b3", client=client)  # fmt: skip
    img = wf.Image.from_id("cog")
    b1, b3 = img.pick_bands("b1"), img.pick_bands("b3")
    layer = wf.XYZ.build((b3 - b1) / (b3 + b1), client=client)
    await layer.save()
    template = layer.url(session_id="bench", colormap="viridis", scales=[-1, 1])
    rate = await _rate_over_http(template, tiles, repeats)
    rows.append(Row("tiles: band math + colormap", "asyncwf", "tiles/s over HTTP", rate, "tiles/s"))
    await _error_latency(layer, template, rows)


async def _rate_over_http(template: str, tiles: list[tuple[int, int]], repeats: int) -> float:
    """Tiles per second fetching ``template`` ({z}/{x}/{y}) for each tile ``repeats`` times, 4 in flight, from
    another process (after one warm-up round)."""
    import aiohttp

    async with aiohttp.ClientSession() as http:

        async def fetch(xy: tuple[int, int]) -> int:
            url = template.replace("{z}", str(ZOOM)).replace("{x}", str(xy[0])).replace("{y}", str(xy[1]))
            async with http.get(url) as response:
                assert response.status == 200, await response.text()
                assert response.content_type == "image/png"
                return len(await response.read())

        for xy in tiles:
            await fetch(xy)
        work = tiles * repeats
        semaphore = asyncio.Semaphore(4)

        async def bounded(xy: tuple[int, int]) -> int:
            async with semaphore:
                return await fetch(xy)

        start = time.perf_counter()
        await asyncio.gather(*(bounded(xy) for xy in work))
        return len(work) / (time.perf_counter() - start)


async def _titiler(path: Path, tiles: list[tuple[int, int]], repeats: int, rows: list[Row]) -> None:
    """TiTiler (``titiler.core`` 2.4.0, rio-tiler 9.4.12 inside) under uvicorn in its own virtualenv, serving
    the same tiles from the same file, fetched the same way."""
    python = peer_python("titiler", "titiler.core==2.4.0", "uvicorn")
    if python is None:
        rows.append(Row("tiles: band math + colormap", "TiTiler 2.4.0", "skipped (could not install it)", float("nan"),
                        ""))  # fmt: skip
        return
    proc = await asyncio.create_subprocess_exec(str(python), str(ROOT / "benchmarks" / "_titiler_side.py"),
                                                stdout=asyncio.subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None
        port = json.loads(await proc.stdout.readline())["port"]
        query = urlencode({"url": str(path), "expression": "(b3-b1)/(b3+b1)", "rescale": "-1,1",
                           "colormap_name": "viridis"})  # fmt: skip
        template = f"http://127.0.0.1:{port}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}.png?{query}"
        for _ in range(100):  # until uvicorn listens
            try:
                rate = await _rate_over_http(template, tiles, repeats)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError("TiTiler did not start")
    finally:
        proc.terminate()
        await proc.wait()
    rows.append(Row("tiles: band math + colormap", "TiTiler 2.4.0 (uvicorn, over HTTP)", "tiles/s over HTTP", rate,
                    "tiles/s"))  # fmt: skip


async def _error_latency(layer: object, template: str, rows: list[Row]) -> None:
    import aiohttp

    import asyncwf.workflows as wf

    failing = wf.XYZ.build(wf.Image.from_id(wf.parameter("image", wf.Str)), client=layer._client)  # type: ignore[attr-defined]
    await failing.save()
    url = failing.url(session_id="lat", image="missing").replace("{z}", str(ZOOM))
    url = url.replace("{x}", str(ORIGIN[0])).replace("{y}", str(ORIGIN[1]))
    arrivals: asyncio.Queue[float] = asyncio.Queue()

    async def consume() -> None:
        async for _ in failing.iter_tile_errors("lat"):
            arrivals.put_nowait(time.perf_counter())

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    delays = []
    async with aiohttp.ClientSession() as http:
        for _ in range(50):
            start = time.perf_counter()
            async with http.get(url) as response:
                await response.read()
            delays.append(await asyncio.wait_for(arrivals.get(), 5) - start)
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer
    rows.append(Row("tiles: error to iter_tile_errors", "asyncwf", "request sent -> error received, p50",
                    percentile(delays, 0.5) * 1000, "ms"))  # fmt: skip
    rows.append(Row("tiles: error to iter_tile_errors", "asyncwf", "p99", percentile(delays, 0.99) * 1000, "ms"))


async def run(rows: list[Row], quick: bool = False) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.tif"
        _make_cog(path)
        tiles = [(ORIGIN[0] + i, ORIGIN[1] + j) for i in range(SPAN) for j in range(SPAN)]
        repeats = 2 if quick else 6
        await _ours(path, tiles, repeats, rows)
        await _titiler(path, tiles, repeats, rows)
        python = peer_python("riotiler", "rio-tiler==9.4.12")
        if python is None:
            rows.append(Row("tiles: band math + colormap", "rio-tiler 9.4.12", "tiles/s over HTTP", float("nan"), ""))
            return
        coords = ";".join(f"{x},{y}" for x, y in tiles)
        proc = await asyncio.create_subprocess_exec(
            str(python), str(ROOT / "benchmarks" / "_riotiler_side.py"), str(path), str(ZOOM), coords, str(repeats),
            "4", stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, _ = await proc.communicate()
        rate = json.loads(stdout.decode().strip().splitlines()[-1])["tiles_per_second"]
        rows.append(Row("tiles: band math + colormap", "rio-tiler 9.4.12 (direct, 4 threads)", "tiles/s over HTTP",
                        rate, "tiles/s"))  # fmt: skip
