"""Grafts made elsewhere: a serialized graft, typespec and arguments (a Descartes Labs ``CreateJob``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from asyncwf.client import Client
from asyncwf.exceptions import InvalidArgument
from asyncwf.workflows._toplevel import compute
from asyncwf.workflows._typespec import from_typespec
from asyncwf.workflows.types._core import Proxytype
from asyncwf.workflows.types._function import Function

__all__ = ["compute_graft", "graft_object"]


def _json(value: Any, what: str) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise InvalidArgument(f"{what} is not JSON: {exc}") from exc
    return value


def graft_object(graft: Any, typespec: Any, arguments: Mapping[str, Any] | None = None) -> Proxytype:
    """The proxy object of a serialized ``graft`` of type ``typespec`` (dicts, or their JSON text).

    A function graft (with ``"parameters"``, typespec ``Function[{name: type}, Result]``, as the Descartes Labs
    1.12 client sends an object that depends on parameters) is called with ``arguments``: each a value (a
    literal or JSON-able list or dict) or a graft. The result is a ``Result``, ready to compute.
    """
    graft, typespec = _json(graft, "the graft"), _json(typespec, "the typespec")
    if not isinstance(graft, dict) or "returns" not in graft:
        raise InvalidArgument("a graft is a JSON object with 'returns'")
    kind: Any = from_typespec(typespec)
    arguments = dict(arguments or {})
    if "parameters" not in graft:
        if arguments:
            raise InvalidArgument(f"arguments {sorted(arguments)} given to a graft that takes none")
        return kind._from_graft(graft)  # type: ignore[no-any-return]
    if not (isinstance(kind, type) and issubclass(kind, Function)) or not kind._type_params:
        raise InvalidArgument("a graft with 'parameters' needs a Function typespec")
    params = graft["parameters"]
    missing, unknown = sorted(set(params) - set(arguments)), sorted(set(arguments) - set(params))
    if missing or unknown:
        raise InvalidArgument(f"arguments: missing {missing or 'none'}, unknown {unknown or 'none'}")
    call: dict[str, Any] = {"fn": graft}
    names: dict[str, str] = {}
    for i, (name, value) in enumerate(arguments.items()):
        key = f"a{i}"
        if isinstance(value, dict) and "returns" in value:  # a graft standing for its value: call it
            call[f"{key}g"], call[key] = value, [f"{key}g"]
        else:
            call[key] = [value] if isinstance(value, list | dict) else value  # (quoted JSON)
        names[name] = key
    call["result"] = ["fn", names]
    call["returns"] = "result"
    return kind._type_params[-1]._from_graft(call)  # type: ignore[no-any-return]


async def compute_graft(
    graft: Any,
    typespec: Any,
    arguments: Mapping[str, Any] | None = None,
    *,
    geoctx: Any = None,
    timeout: float | None = None,
    block: bool = True,
    progress_bar: bool | None = None,
    channel: str | None = None,
    client: Client | None = None,
) -> Any:
    """Compute a serialized graft made elsewhere and return its result, unmarshalled by its typespec.

    ``graft`` and ``typespec`` are dicts or their JSON text, in asyncwf's spelling or the Descartes Labs
    client's (the ``Typespec`` protobuf as JSON); ``arguments`` bind a function graft's parameters (see
    :func:`graft_object`; a DL ``CreateJob``'s ``arguments`` map holds JSON text: ``json.loads`` each value).
    The other parameters are :func:`compute`'s.
    """
    obj = graft_object(graft, typespec, arguments)
    params = {} if geoctx is None else {"geoctx": geoctx}
    return await compute(obj, timeout, block, progress_bar, channel, client, **params)
