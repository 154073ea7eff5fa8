"""Raster programs built by the real Descartes Labs client (1.12.1), run through the backend.

``dl_raster_corpus.json`` is written by ``scripts/gen_dl_corpus.sh`` from ``dl_raster_programs.py``: for each
program the graft, typespec and arguments the real client sends. Each computes over the test catalogue
(``tests.workflows.rasters``) to what the same program built with ``asyncwf.workflows`` computes to, and both
write the same builtins, so Descartes Labs raster code and grafts run unchanged.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import asyncwf.workflows as wf
from asyncwf import Client
from asyncwf.exceptions import JobComputeError
from asyncwf.workflows import ImageResult
from tests.workflows.dl_raster_programs import raster_programs
from tests.workflows.rasters import GRID, bands, nodata_masked
from tests.workflows.test_dl_corpus import _builtins

CORPUS = json.loads((Path(__file__).with_name("dl_raster_corpus.json")).read_text())


def _ours() -> dict[str, Any]:
    """The raster programs built with asyncwf's proxies: name -> proxy object."""
    objects: dict[str, Any] = {}
    raster_programs(wf, lambda name, obj: objects.__setitem__(name, obj))
    return objects


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, ImageResult):
        return (
            isinstance(got, ImageResult)
            and dict(got.bandinfo) == dict(want.bandinfo)
            and got.ndarray.shape == want.ndarray.shape
            and bool((np.ma.getmaskarray(got.ndarray) == np.ma.getmaskarray(want.ndarray)).all())
            and bool(np.ma.allclose(got.ndarray, want.ndarray))
        )
    if isinstance(want, float) and isinstance(got, int | float):
        return math.isclose(got, want, rel_tol=1e-9) or (math.isnan(got) and math.isnan(want))
    if isinstance(want, list | tuple):
        return isinstance(got, list | tuple) and len(got) == len(want) and all(map(_same, got, want))
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    return bool(got == want)


def test_the_raster_corpus_covers_the_raster_surface() -> None:
    assert len(CORPUS) >= 60
    names = {case["name"].split()[0] for case in CORPUS}
    assert {"image", "pick", "rename", "reduce", "mask", "collection", "composite", "mosaic"} <= names


async def test_every_raster_program_of_the_real_client_computes_as_ours_does(catalog: Client) -> None:
    ours = _ours()
    assert ours.keys() == {case["name"] for case in CORPUS}
    limit = asyncio.Semaphore(8)

    async def run(case: dict[str, Any]) -> str | None:
        async with limit:
            try:
                theirs = await wf.compute_graft(case["graft"], case["typespec"], case["arguments"], geoctx=GRID,
                                                client=catalog)  # fmt: skip
                mine = await wf.compute(ours[case["name"]], geoctx=GRID, client=catalog)
            except Exception as exc:  # reported with the case's name below
                return f"{case['name']}: {type(exc).__name__}: {exc}"
        return None if _same(theirs, mine) else f"{case['name']}: theirs {theirs!r}, ours {mine!r}"

    failures = [f for f in await asyncio.gather(*(run(case) for case in CORPUS)) if f]
    assert not failures, f"{len(failures)} of {len(CORPUS)} failed:\n" + "\n".join(failures[:40])


def test_our_proxies_write_the_real_clients_raster_vocabulary() -> None:
    ours = _ours()
    differ = [
        f"{case['name']}: ours {sorted(_builtins(ours[case['name']].graft) - _builtins(case['graft']))}, "
        f"theirs {sorted(_builtins(case['graft']) - _builtins(ours[case['name']].graft))}"
        for case in CORPUS
        if _builtins(ours[case["name"]].graft) != _builtins(case["graft"])
    ]
    assert not differ, f"{len(differ)} of {len(CORPUS)} programs differ:\n" + "\n".join(differ)


async def test_what_the_real_clients_programs_compute_to(catalog: Client) -> None:
    """A few of the corpus's programs against numpy directly (the rest are checked against asyncwf's)."""
    by_name = {case["name"]: case for case in CORPUS}

    async def theirs(name: str) -> Any:
        case = by_name[name]
        return await wf.compute_graft(case["graft"], case["typespec"], case["arguments"], geoctx=GRID,
                                      client=catalog)  # fmt: skip

    one, two = nodata_masked(bands(1)), nodata_masked(bands(2))
    assert np.ma.allclose((await theirs("image add")).ndarray, one + 1)
    assert np.ma.allclose((await theirs("image sub image")).ndarray, one - two)
    assert np.ma.allclose((await theirs("image reflected truediv")).ndarray, 1 / (one + 1))
    assert list((await theirs("pick bands list")).bandinfo) == ["nir", "red"]
    assert math.isclose(await theirs("reduce mean all"), float(one.mean()))
    pixels = await theirs("reduce max pixels")
    assert pixels == {"red": float(one[0].max()), "green": float(one[1].max()), "nir": float(one[2].max())}
    over_bands = await theirs("reduce sum bands")
    assert list(over_bands.bandinfo) == ["sum"] and np.ma.allclose(over_bands.ndarray[0], one.sum(axis=0))
    assert await theirs("properties") == 11
    assert await theirs("nbands") == 3
    assert await theirs("collection length") == 3
    assert await theirs("collection map to number") == [10, 20, 30]
    composite = await theirs("composite mean")
    stack = np.ma.stack([nodata_masked(bands(d)) for d in (1, 2, 3)])
    assert np.ma.allclose(composite.ndarray, stack.mean(axis=0))
    assert [r.properties["id"] for r in await theirs("collection dates")] == ["scene:1", "scene:2"]
    assert [r.properties["id"] for r in await theirs("collection sorted")] == ["scene:3", "scene:2", "scene:1"]
    functions = (await theirs("image math functions")).ndarray
    want = np.ma.arctan2(one, 2) + np.square(one[0]) + np.ma.log(one + 1) + np.ma.arctan(one)
    assert np.ma.allclose(functions, want) and bool((functions.mask == one.mask).all())
    ndvi = (await theirs("normalized difference")).ndarray[0]
    assert np.ma.allclose(ndvi, (one[2] - one[0]) / (one[2] + one[0]))
    assert math.isclose(await theirs("math numbers"), math.asin(0.5) + math.acos(0.5) + math.atan(1) + 9 + math.log1p(1)
                        + math.atan2(1, 2))  # fmt: skip
    assert await theirs("value at") == {"red": 46.0, "green": 8.0, "nir": 93.0}  # row 20, column 25
    assert await theirs("coords to index") == (20, 25)
    assert await theirs("index to coords") == pytest.approx((10.08, 45.925))  # the pixel's upper-left corner
    assert [v["red"] for v in await theirs("collection value at")] == [46.0, 47.0, 48.0]
    scaled = (await theirs("scale values")).ndarray
    assert np.ma.allclose(scaled[0], (one[0] - one[0].min()) / (one[0].max() - one[0].min()))
    assert np.ma.allclose((await theirs("scale values domain")).ndarray, (one - 4) / 96 * 10)
    assert await theirs("with properties") == 99
    assert [r.properties["id"] for r in await theirs("collection tail")] == ["scene:3"]
    assert [r.properties["id"] for r in await theirs("collection partition")] == ["scene:2", "scene:3"]
    assert [r.properties["id"] for r in await theirs("concat images")] == ["scene:1", "scene:2", "scene:1"]
    assert await theirs("collection with properties") == ["n", "n", "n"]
    assert np.ma.allclose((await theirs("map bands")).ndarray, one * 2)
    assert await theirs("map bands to numbers") == pytest.approx({b: float(one[i].mean()) for i, b in
                                                                 enumerate(["red", "green", "nir"])})  # fmt: skip
    brightest = (await theirs("sortby composite")).ndarray
    assert np.ma.allclose(brightest, stack[2]) and bool((brightest.mask == stack.mask.all(axis=0)).all())
    assert np.ma.allclose((await theirs("sortby composite argmin")).ndarray, stack[0])
    windows = [r.ndarray for r in await theirs("map window")]
    assert len(windows) == 2 and np.ma.allclose(windows[1], stack[2] - stack[1])
    assert len(await theirs("map window concat")) == 1
    assert np.ma.allclose((await theirs("map window concat"))[0].ndarray, stack.mean(axis=0))
    assert await theirs("map window to numbers") == [10, 20]
    too_long = wf.ImageCollection.from_id("scenes").map_window(lambda back, img, fwd: img, back=2, fwd=1)
    with pytest.raises(JobComputeError, match="a window of 2 \\+ 1 \\+ 1 images is longer"):
        await wf.compute(too_long, geoctx=GRID, client=catalog)
    masked = await theirs("mask")
    assert bool((np.ma.getmaskarray(masked.ndarray) == (one.mask | np.ma.filled(one > 50, True))).all())


_LITERALS = {"id": "scene:1", "p": "scenes", "three": 3, "text": "x", "five": "five", "months": "months",
             "mode": "mode", "fifty": 50.0, "viridis": "viridis", "blue_to_b": [{"blue": "b"}], "fancy": "fancy",
             "minus": -1, "two": 2}  # fmt: skip
_IMG = {"img": ["wf.Image.load", "id"], "col": ["wf.ImageCollection.from_id", "p"]}


@pytest.mark.parametrize(
    ("expr", "typespec", "code", "message"),
    [
        (["wf.pick_bands", "img"], "Image", "ERROR_TYPING", "bands are named by strings"),
        (["wf.pick_bands", "img", "five"], "Image", "ERROR_INVALID", "no bands five"),
        (["wf.mean", "img", "months"], "Float", "ERROR_INVALID", "axis is None or some of bands, pixels"),
        (["wf.reduction", "img", "mode"], "Float", "ERROR_INVALID", "reduction is one of"),
        (["wf.add", "img", "text"], "Image", "ERROR_TYPING", "takes an Image or a number, not Str"),
        (["wf.mask", "img", "three"], "Image", "ERROR_TYPING", "a mask is needed"),
        (["wf.value_at", "img", "fifty", "fifty"], "Any", "ERROR_INVALID", "outside the GeoContext's bounds"),
        (["wf.rename_bands", "img", "blue_to_b"], "Image", "ERROR_INVALID", "no bands blue"),
        (
            ["wf.ImageCollection.head", "img", "three"],
            "ImageCollection",
            "ERROR_TYPING",
            "an ImageCollection is needed, not Image",
        ),
        (["wf.ImageCollection.head", "col", "text"], "ImageCollection", "ERROR_TYPING", "a count is an Int"),
        (["wf.Image.load", "id", {"resampler": "fancy"}], "Image", "ERROR_INVALID", "resampler is one of"),
        (
            ["wf.ImageCollection.from_id", "p", {"limit": "minus"}],
            "ImageCollection",
            "ERROR_INVALID",
            "limit is a non-negative Int",
        ),
        (["wf.add", "head", "col"], "ImageCollection", "ERROR_INVALID", "do not combine image by image"),
        (["wf.colormap", "img", "viridis"], "Image", "ERROR_INVALID", "wf.colormap"),
    ],
)
async def test_bad_raster_grafts_fail_with_typed_errors_naming_the_problem(
    catalog: Client, expr: list[Any], typespec: str, code: str, message: str
) -> None:
    graft = {**_LITERALS, **_IMG, "head": ["wf.ImageCollection.head", "col", "two"], "out": expr, "returns": "out"}
    with pytest.raises(JobComputeError) as failed:
        await wf.compute_graft(graft, {"type": typespec}, geoctx=GRID, client=catalog)
    assert failed.value.code == code and message in str(failed.value), str(failed.value)


def test_the_blocking_api_builds_the_same_raster_grafts() -> None:
    import asyncwf.blocking.workflows as bw

    blocking: dict[str, Any] = {}
    raster_programs(bw, lambda name, obj: blocking.__setitem__(name, obj))
    ours = _ours()
    assert blocking.keys() == ours.keys()
    assert [n for n in ours if blocking[n].graft != ours[n].graft] == []
    assert all(isinstance(blocking[n], bw.Proxytype) for n in ("image add", "mosaic", "collection head"))


async def test_grafts_stored_with_asyncwfs_earlier_raster_names_still_run(catalog: Client) -> None:
    """Published workflows and layers made before the proxies wrote the client's names keep computing."""
    old = {
        "id": "scene:1", "near": "nearest", "img": ["wf.Image.from_id", "id", "near"], "one": 1.0,
        "plus": ["wf.Image.add", "img", "one"], "red": [["red"]], "picked": ["wf.Image.pick_bands", "plus", "red"],
        "mean": "mean", "per_band": ["wf.Image.reduce", "picked", "mean"],
        "p": "scenes", "none": None, "col": ["wf.ImageCollection.from_id", "p", "none", "none", "near"],
        "composite": ["wf.ImageCollection.mean", "col"], "lo": 0.0, "hi": 50.0,
        "clipped": ["wf.Image.clip", "composite", "lo", "hi"], "roots": ["wf.Image.sqrt", "clipped"],
    }  # fmt: skip
    one = nodata_masked(bands(1))
    dict_of_floats = {"composite": {"type": "Dict", "params": [{"type": "Str"}, {"type": "Float"}]}}
    per_band = await wf.compute_graft({**old, "returns": "per_band"}, dict_of_floats, geoctx=GRID, client=catalog)
    assert per_band == pytest.approx({"red": float((one[0] + 1).mean())})
    roots = await wf.compute_graft({**old, "returns": "roots"}, {"type": "Image"}, geoctx=GRID, client=catalog)
    stack = np.ma.stack([nodata_masked(bands(d)) for d in (1, 2, 3)])
    assert np.ma.allclose(roots.ndarray, np.ma.sqrt(np.ma.clip(stack.mean(axis=0), 0, 50)))
