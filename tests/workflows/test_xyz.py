"""XYZ layers: tiles over HTTP (pixels checked), tile errors streamed live, the listener."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import rasterio
from PIL import Image as PILImage

import asyncwf.workflows as wf
from asyncwf import Client
from asyncwf.exceptions import InvalidArgument
from asyncwf.testing import LocalBackend
from asyncwf.workflows import XYZ, GeoContext, Image

UTC = dt.UTC
TILE = (8, 5, 4)  # x, y, z
NODATA = -1.0


def _write(path: Path, data: np.ndarray) -> None:
    count, height, width = data.shape
    xmin, ymin, xmax, ymax = GeoContext.from_xyz_tile(*TILE).bounds
    transform = rasterio.Affine((xmax - xmin) / width, 0.0, xmin, 0.0, -(ymax - ymin) / height, ymax)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count, dtype="float64",
                       crs="EPSG:3857", transform=transform, nodata=NODATA) as dst:  # fmt: skip
        dst.write(data)


@pytest.fixture
async def layers(tmp_path: Path) -> AsyncIterator[tuple[LocalBackend, Client]]:
    async with LocalBackend() as backend, backend.client() as client:
        one = np.full((1, 256, 256), 50.0)
        one[:, :, :64] = NODATA  # the left quarter has no data
        _write(tmp_path / "one.tif", one)
        rgb = np.stack([np.full((256, 256), v) for v in (10.0, 200.0, 30.0)])
        _write(tmp_path / "rgb.tif", rgb)
        ramp = np.broadcast_to(np.arange(256, dtype="f8"), (1, 256, 256)).copy()
        _write(tmp_path / "ramp.tif", ramp)
        when = dt.datetime(2026, 6, 1, tzinfo=UTC)
        for name, bands in (("one", ["v"]), ("rgb", ["r", "g", "b"]), ("ramp", ["v"])):
            await wf.add_image(str(tmp_path / f"{name}.tif"), name, "tiles", when, band_names=bands, client=client)
        yield backend, client


async def _tile(url: str, **query: str) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    async with aiohttp.ClientSession() as http, http.get(url.format(x=TILE[0], y=TILE[1], z=TILE[2]),
                                                         params=query or None) as response:  # fmt: skip
        body = await response.read()
        if response.status == 200:
            return 200, np.asarray(PILImage.open(io.BytesIO(body)).convert("RGBA")), response.headers
        return response.status, body.decode(), response.headers


async def _saved(client: Client, obj: Any) -> XYZ:
    xyz = XYZ.build(obj, name="layer", client=client)
    await xyz.save()
    return xyz


async def test_tiles_are_coloured_as_asked(layers: tuple[LocalBackend, Client]) -> None:
    _, client = layers
    one = await _saved(client, Image.from_id("one"))
    again = await XYZ.get(one.id or "", client=client)
    assert again.name == "layer" and again.url() == one.url() and again.type is Image
    assert one.url().startswith(one.BASE_URL + "/v1/xyz/") and one.BASE_URL.startswith("http://")
    assert one.map_url() == f"{one.BASE_URL}/v1/xyz/{one.id}/map"
    assert one.map_url(colormap="viridis", zoom=3) == f"{one.BASE_URL}/v1/xyz/{one.id}/map?colormap=viridis&zoom=3"
    with pytest.raises(TypeError, match="lat is a number"):
        one.map_url(lat="north")
    with pytest.raises(ValueError, match="not been persisted"):
        XYZ.build(Image.from_id("one"), client=client).map_url()
    status, pixels, _ = await _tile(one.url(scales=[[0, 100]]))
    assert status == 200 and pixels.shape == (256, 256, 4)
    assert (pixels[:, 64:, :3] == 128).all() and (pixels[:, 64:, 3] == 255).all()  # 50 of [0, 100] -> mid grey
    assert (pixels[:, :64, 3] == 0).all()  # masked: transparent
    _, checkered, _ = await _tile(one.url(scales=[0, 100], checkerboard=True))
    assert (checkered[:, :64, 3] == 255).all() and set(np.unique(checkered[:, :64, 0])) == {204, 255}
    assert checkered[0, 0, 0] != checkered[0, 8, 0]  # 8-pixel squares
    rgb = await _saved(client, Image.from_id("rgb"))
    _, pixels, _ = await _tile(rgb.url(scales=[[0, 255], [0, 255], [0, 255]]))
    assert (pixels[..., :3] == (10, 200, 30)).all()
    ramp = await _saved(client, Image.from_id("ramp"))
    _, pixels, _ = await _tile(ramp.url(colormap="viridis", scales=[0, 255]))
    import matplotlib

    lut = np.round(matplotlib.colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    assert (pixels[0, :, :3] == lut).all()  # column c has value c -> colour c of the map
    _, own_scale, _ = await _tile(ramp.url())  # no scales: this tile's own range
    assert own_scale[0, 0, 0] == 0 and own_scale[0, 255, 0] == 255


async def test_parameters_and_bad_requests(layers: tuple[LocalBackend, Client]) -> None:
    backend, client = layers
    image_id = wf.parameter("image", wf.Str)
    gain = wf.parameter("gain", wf.Float)
    layer = await _saved(client, Image.from_id(image_id) * gain)
    _, pixels, _ = await _tile(layer.url(scales=[0, 100], image="one", gain=2.0))
    assert (pixels[:, 64:, :3] == 255).all()  # 50 x 2 = 100: the top of the scale
    url = layer.url(image="one", gain=1.0)
    assert "image=%22one%22" in url and "{z}/{x}/{y}.png" in url
    base = layer.url()
    for query, status in [({"colormap": "nope"}, 400), ({"scales": "[[0, 1], [0, 1]]"}, 400),
                          ({"scales": "not json"}, 400), ({"gain": "{bad"}, 400),
                          ({"checkerboard": "maybe"}, 400)]:  # fmt: skip
        got, body, _ = await _tile(base, **query)
        assert got == status, (query, body)
    got, body, _ = await _tile(base.replace("{z}/{x}/{y}", "4/16/5"))
    assert got == 400 and "does not exist" in body
    got, body, _ = await _tile(base.replace(layer.id or "", "no-such-layer"))
    assert got == 404
    status, _, _ = await _tile(layer.url(scales=[0, 100], image="one", gain=1.0))
    assert status == 200  # still serving
    with pytest.raises(TypeError):
        layer.url(unknown=1)
    with pytest.raises(ValueError, match="colormap"):
        layer.url(colormap="rainbowish")
    with pytest.raises(ValueError):
        layer.url(scales=[[0, 1], [0, 1]])
    with pytest.raises(TypeError):
        layer.url(scales=[["a", 1]])
    assert "scales" not in layer.url(scales=[None, None])
    with pytest.raises(ValueError, match="persisted"):
        XYZ.build(Image.from_id("one"), client=client).url()
    with pytest.raises(wf.ProxyTypeError):
        XYZ.build(wf.Int(1))
    assert backend.backend is not None


async def test_tile_errors_stream_live(layers: tuple[LocalBackend, Client]) -> None:
    _, client = layers
    layer = await _saved(client, Image.from_id(wf.parameter("image", wf.Str)))
    received: list[Any] = []

    async def consume() -> None:
        async for error in layer.iter_tile_errors("s1", dt.datetime.now(UTC) - dt.timedelta(seconds=1)):
            received.append(error)
            if len(received) == 2:
                return

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.2)  # the stream is open before the failures happen
    status, body, headers = await _tile(layer.url(session_id="s1", image="missing"))
    assert status == 400 and headers["X-Error-Code"] == "INVALID" and "no image 'missing'" in body
    await _tile(layer.url(session_id="other", image="missing"))  # another session
    await _tile(layer.url(session_id="s1", image="rgb", colormap="viridis"))  # 3 bands with a colormap
    await asyncio.wait_for(consumer, 10)
    assert [e.code for e in received] == ["INVALID", "INVALID"] and all(e.session_id == "s1" for e in received)
    assert "colormap" in received[1].message and received[0].timestamp.seconds > 0
    with pytest.raises(InvalidArgument):
        _ = [e async for e in layer.iter_tile_errors("s1", "2026-01-01")]  # type: ignore[arg-type]
    # A naive datetime is local time, as datetime.now() gives it (the seed's own example): the kept errors.
    kept = layer.iter_tile_errors("s1", dt.datetime.now() - dt.timedelta(minutes=5))
    assert [(await anext(kept)).code, (await anext(kept)).code] == ["INVALID", "INVALID"]
    await kept.aclose()  # type: ignore[attr-defined]


async def test_error_listener(layers: tuple[LocalBackend, Client]) -> None:
    _, client = layers
    layer = await _saved(client, Image.from_id(wf.parameter("image", wf.Str)))
    seen: list[str] = []
    got_two = asyncio.Event()

    async def async_callback(error: Any) -> None:
        seen.append("async:" + error.code)
        if len(seen) >= 4:
            got_two.set()

    listener = layer.error_listener()
    listener.add_callback(lambda error: seen.append("sync:" + error.code))
    listener.add_callback(async_callback)
    listener.listen("s2", dt.datetime.now(UTC))
    assert listener.running()
    await asyncio.sleep(0.2)
    for _ in range(2):
        await _tile(layer.url(session_id="s2", image="missing"))
    await asyncio.wait_for(got_two.wait(), 10)
    assert seen == ["sync:INVALID", "async:INVALID"] * 2
    assert await listener.stop(timeout=5) is True and not listener.running()

    with pytest.raises(InvalidArgument):  # bad arguments fail listen() itself, not a task later
        layer.error_listener().listen("s2", "yesterday")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        layer.error_listener().listen("")

    failing = layer.error_listener()

    def explode(error: Any) -> None:
        raise RuntimeError("callback failed")

    failing.add_callback(explode)
    failing.listen("s3")
    await asyncio.sleep(0.2)
    await _tile(layer.url(session_id="s3", image="missing"))
    await asyncio.sleep(0.5)
    assert not failing.running()
    with pytest.raises(RuntimeError, match="callback failed"):
        await failing.stop(timeout=1)


async def test_tokens_are_honoured(tmp_path: Path) -> None:
    async with LocalBackend(tokens={"secret": "alice"}, admins=["alice"], raster_roots=(tmp_path,)) as backend, \
            backend.client() as client:  # fmt: skip
        _write(tmp_path / "one.tif", np.full((1, 256, 256), 50.0))
        await wf.add_image(str(tmp_path / "one.tif"), "one", "p", dt.datetime(2026, 1, 1, tzinfo=UTC), client=client)
        layer = await _saved(client, Image.from_id("one"))
        status, _, _ = await _tile(layer.url())
        assert status == 401
        status, _, _ = await _tile(layer.url(), access_token="wrong")
        assert status == 401
        status, _, _ = await _tile(layer.url(), access_token="secret")
        assert status == 200


def test_blocking_listener_calls_back_on_a_background_thread(tmp_path: Path) -> None:
    import threading
    import urllib.error
    import urllib.request

    import asyncwf.blocking as bwf
    import asyncwf.blocking.workflows as bw

    with bwf.LocalBackend() as backend, backend.client() as client:
        layer = bw.XYZ.build(bw.Image.from_id(bw.parameter("image", bw.Str)), client=client)
        layer.save()
        threads: list[str] = []
        listener = layer.error_listener()
        listener.add_callback(lambda error: threads.append(threading.current_thread().name))
        listener.listen("blocking")
        assert listener.running()
        url = layer.url(session_id="blocking", image="missing").format(z=TILE[2], x=TILE[0], y=TILE[1])
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url, timeout=10)
        deadline = dt.datetime.now(UTC) + dt.timedelta(seconds=10)
        while not threads and dt.datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        assert threads and threads[0] != threading.current_thread().name
        assert listener.stop(timeout=5) is True and not listener.running()


async def test_cancelling_an_error_stream_is_a_cancellation(layers: tuple[LocalBackend, Client]) -> None:
    _, client = layers
    layer = await _saved(client, Image.from_id("one"))

    async def consume() -> None:
        async for _ in layer.iter_tile_errors("quiet"):
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_url_encodes_json_values(layers: tuple[LocalBackend, Client]) -> None:
    _, client = layers
    layer = await _saved(client, Image.from_id("one") * wf.parameter("gain", wf.Float))
    url = layer.url(session_id="a b&c", scales=[[0, 1]], gain=2.5)
    query = url.split("?", 1)[1]
    assert "{" not in query and " " not in query and "&c" not in query
    assert "session_id=a+b%26c" in query and "scales=%5B%5B0.0%2C+1.0%5D%5D" in query and "gain=2.5" in query
    assert url.split("?")[0].endswith("/{z}/{x}/{y}.png")
    status, _, _ = await _tile(layer.url(scales=[0, 100], gain=1.0))
    assert status == 200
