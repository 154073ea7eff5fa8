"""ImageResult: a computed Image, as numpy."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from asyncwf.workflows._geocontext import GeoContext

__all__ = ["ImageResult"]


class ImageResult:
    """A computed Image: ``ndarray`` (a numpy masked array, bands x rows x columns, float64),
    ``properties``, ``bandinfo`` (band name -> that band's info, in band order, as the original's: iterate it
    for the names) and the ``geocontext`` it was computed in."""

    __slots__ = ("bandinfo", "geocontext", "ndarray", "properties")

    def __init__(self, ndarray: Any, properties: Mapping[str, Any], bandinfo: Iterable[str] | Mapping[str, Any],
                 geocontext: GeoContext | None) -> None:  # fmt: skip
        self.ndarray = ndarray
        self.properties = dict(properties)
        self.bandinfo: dict[str, dict[str, Any]] = (
            {name: dict(info) for name, info in bandinfo.items()} if isinstance(bandinfo, Mapping)
            else {name: {"name": name} for name in bandinfo}
        )  # fmt: skip
        self.geocontext = geocontext

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> ImageResult:
        """An ImageResult from the backend's encoded result."""
        import numpy as np

        shape = tuple(data["shape"])
        values = np.frombuffer(base64.b64decode(data["data"]), dtype="<f8").reshape(shape)
        count = int(np.prod(shape))
        mask = np.unpackbits(np.frombuffer(base64.b64decode(data["mask"]), dtype=np.uint8))[:count].astype(bool)
        array = np.ma.array(values.copy(), mask=mask.reshape(shape))
        geoctx = data.get("geocontext")
        return cls(array, data.get("properties") or {}, data.get("bands") or [],
                   GeoContext.from_dict(geoctx) if geoctx else None)  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"ImageResult(bands={list(self.bandinfo)}, shape={tuple(self.ndarray.shape)}, properties={self.properties})"
        )
