"""Where a layer lies: the longitude/latitude bounds of the catalogued images its graft names literally."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["layer_bounds"]

#: The builtins that read an image by id (the client's name and asyncwf's earlier one), and a product's images.
_IMAGE = ("wf.Image.load", "wf.Image.from_id")
_COLLECTION = "wf.ImageCollection.from_id"


def layer_bounds(graft: Mapping[str, Any], images: Mapping[str, Mapping[str, Any]]) -> list[float] | None:
    """``[west, south, east, north]`` in degrees around every image the graft reads by a literal id (an
    Image's id, or an ImageCollection's product), or None when it names none (ids given as parameters)."""
    from rasterio.warp import transform_bounds

    wanted: set[str] = set()
    products: set[str] = set()
    for function, literal in _reads(graft):
        (wanted if function in _IMAGE else products).add(literal)
    boxes = []
    for image_id, record in images.items():
        if image_id in wanted or record.get("product_id") in products:
            try:
                boxes.append(transform_bounds(record["crs"], "EPSG:4326", *record["bounds"]))
            except (KeyError, ValueError, TypeError):  # a record the map cannot place (no CRS, say): left out
                continue
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def _reads(graft: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(function, literal id) of each ``from_id`` application in ``graft`` and the grafts nested in it."""
    for value in graft.values():
        if isinstance(value, Mapping):
            yield from _reads(value)
        elif isinstance(value, list) and len(value) >= 2 and value[0] in (*_IMAGE, _COLLECTION):
            argument = graft.get(value[1]) if isinstance(value[1], str) else None
            if isinstance(argument, str):
                yield value[0], argument
