"""Raster programs written once for any module with the Descartes Labs client's API (Python 3.9 syntax).

``scripts/gen_dl_corpus.py`` builds them with the real client (``descarteslabs.workflows``) into
``dl_raster_corpus.json``; ``test_dl_rasters.py`` computes each graft of the real client through ``asyncwf serve``
over the test catalogue (``scene:1``..``scene:3`` of product ``scenes``: bands red, green, nir) and checks that it
gives what the same program built with ``asyncwf.workflows`` gives, and that both write the same builtins.
"""

import datetime as dt


def raster_programs(wf, case):
    """Call ``case(name, obj)`` for every program, ``wf`` being the workflows module."""
    img = wf.Image.from_id("scene:1")
    other = wf.Image.from_id("scene:2")
    red = img.pick_bands("red")
    case("image read", img)
    case("image resampled", wf.Image.from_id("scene:1", resampler="bilinear"))
    case("image add", img + 1)
    case("image sub image", img - other)
    case("image mul", img * 2)
    case("image truediv", img / 4)
    case("image floordiv mod", (img // 3) + (img % 5))
    case("image pow", red**2)
    case("image reflected", 100 - img)
    case("image reflected truediv", 1 / (img + 1))
    case("image neg abs", abs(-img))
    case("image compare", (img > 50) & (img <= 70))
    case("image compare image", (img == other) | (img != other))
    case("image invert", ~(img > 40))
    case("image xor", (img > 40) ^ (img < 60))
    case("pick bands str", img.pick_bands("red nir"))
    case("pick bands list", img.pick_bands(["nir", "red"]))
    case("rename bands", img.rename_bands("a", "b", "c"))
    case("band math", (img.pick_bands("nir") - red) / (img.pick_bands("nir") + red))
    for op in ("min", "max", "mean", "median", "sum", "std", "count"):
        case("reduce " + op + " pixels", getattr(img, op)(axis="pixels"))
        case("reduce " + op + " bands", getattr(img, op)(axis="bands"))
        case("reduce " + op + " all", getattr(img, op)())
    case("reduce both axes", img.mean(axis=("bands", "pixels")))
    case("reduction", img.reduction("max", axis="pixels"))
    case("mask", img.mask(img > 50))
    case("mask replace", img.mask(img > 50).mask(img > 70, replace=True))
    case("getmask", img.getmask())
    case("concat bands", red.concat_bands(other.pick_bands("nir")))
    case("clip values", img.clip_values(10, 50))
    case("sqrt log", img.sqrt() + img.log() + img.log10())
    case("trig", img.sin() * img.cos())
    case("image reflected floordiv mod", (200 // (img + 1)) + (7 % (img + 1)))
    case("image math functions", wf.arctan2(img, 2) + wf.square(red) + wf.log1p(img) + wf.arctan(img))
    case("image arc functions", wf.arcsin(img / 200) + wf.arccos(img / 200) + img.log2() + img.square())
    case("normalized difference", wf.normalized_difference(img.pick_bands("nir"), red))
    case(
        "math numbers",
        wf.arcsin(wf.Float(0.5))
        + wf.arccos(wf.Float(0.5))
        + wf.arctan(wf.Float(1.0))
        + wf.square(wf.Float(3.0))
        + wf.log1p(wf.Float(1.0))
        + wf.arctan2(wf.Float(1.0), wf.Float(2.0)),
    )
    case("with properties", wf.Int(img.with_properties(cloud=99, site="n").properties["cloud"]))
    case("without properties", img.without_properties("cloud", "date").properties.length())
    case("scale values", img.scale_values(0, 1))
    case("scale values domain", img.scale_values(0, 10, 4, 100))
    case("value at", img.value_at(10.5, 45.5))
    case("coords to index", img.coords_to_index(10.5, 45.5))
    case("index to coords", img.index_to_coords(3, 4))
    case("concat images", img.concat(other, img))
    case("map bands", img.map_bands(lambda name, band: band * 2))
    case("map bands to numbers", img.map_bands(lambda name, band: band.mean()))
    case("unpack bands", img.unpack_bands("red nir")[1])
    case("from images", wf.ImageCollection([img, other]).mean(axis="images"))
    case("properties", wf.Int(img.properties["cloud"]) + 1)
    case("nbands", img.nbands)
    col = wf.ImageCollection.from_id(
        "scenes", start_datetime=dt.datetime(2026, 6, 1), end_datetime=dt.datetime(2026, 6, 3)
    )
    whole = wf.ImageCollection.from_id("scenes")
    case("collection read", whole)
    case("collection dates", col)
    case("collection length", whole.length())
    case("collection getitem", whole[1])
    case("collection map", whole.map(lambda i: i * 2))
    case("collection map to number", whole.map(lambda i: wf.Int(i.properties["cloud"])))
    case("collection filter", whole.filter(lambda i: wf.Int(i.properties["cloud"]) > 15))
    case("collection arithmetic", whole + 1)
    case("collection with image", whole - img)
    case("collection pick bands", whole.pick_bands("red"))
    case("collection math", wf.sqrt(whole) + whole.log10())
    case("collection head", whole.head(2))
    case("collection tail", whole.tail(1))
    case("collection partition", whole.partition(1)[1])
    case("collection concat", whole.concat(col))
    case("collection value at", whole.value_at(10.5, 45.5))
    case(
        "collection with properties",
        whole.map(lambda i: i.with_properties(site="n")).map(lambda i: wf.Str(i.properties["site"])),
    )
    case("collection mask", whole.mask(img > 50).getmask())
    for op in ("min", "max", "mean", "median", "sum", "std"):
        case("composite " + op, getattr(whole, op)(axis="images"))
    case("mosaic", whole.mosaic())
    case("sortby composite", whole.sortby_composite("red"))
    case("sortby composite argmin", whole.sortby_composite("nir", operation="argmin"))
    case("collection map bands", whole.map_bands(lambda name, band: band + 1))
    case("map window", whole.map_window(lambda back, img, fwd: img - back.mean(axis="images"), back=1))
    case(
        "map window concat",
        whole.map_window(lambda back, img, fwd: wf.concat(back, img, fwd).mean(axis="images"), back=1, fwd=1),
    )
    case("map window to numbers", whole.map_window(lambda back, img, fwd: wf.Int(img.properties["cloud"]), fwd=1))
    case("collection sorted", whole.sorted(lambda i: wf.Int(i.properties["cloud"]), reverse=True))
