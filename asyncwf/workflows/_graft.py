"""Grafts: the wire format of a proxy object's computation (Descartes-compatible).

A graft is a JSON dict ``{key: expression, ..., "returns": key}``, optionally
with ``"parameters": [names]`` (then it is a function). An expression is a
literal, an application ``[fn_key, arg_key, ..., {name: key}]``, quoted JSON
``[[...]]`` / ``[{...}]``, or a nested graft (a function or closure).

Proxy objects do not hold graft dicts: they hold :class:`Node` objects, a DAG
built in O(1) per operation, and the graft is written once when it is sent.
Keys are integer strings derived from a hash of the node's content (a Merkle
hash), so the same program always yields the same graft, identical
sub-expressions share one key, and composing independently built objects can
never collide - no process-wide counter. When a function is written, every
node that does not depend on its parameters is hoisted to the enclosing scope
(the closure behaviour the original got from ``first_guid``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from asyncwf.exceptions import InvalidArgument

__all__ = [
    "Apply",
    "Function",
    "Graft",
    "KeyRef",
    "Literal",
    "LoadedGraft",
    "Node",
    "Quoted",
    "declared_parameters",
    "is_key",
    "literal",
    "isolate_keys",
    "parametrize",
    "to_graft",
    "validate_graft",
]

RESERVED = frozenset({"parameters", "returns"})
Graft = dict[str, Any]


def _digest(*parts: str) -> str:
    h = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8)
    return str(int.from_bytes(h.digest(), "big"))


def is_key(name: object) -> bool:
    return isinstance(name, str) and bool(name) and name not in RESERVED


_NO_NAMES: frozenset[str] = frozenset()


class Node:
    """One expression of a graft. Immutable; ``key`` is its content hash."""

    __slots__ = ("free", "key", "size")

    key: str
    #: Names this node refers to that are not defined inside it (parameters, keyrefs).
    free: frozenset[str]
    #: Number of nodes in the DAG below (counting shared ones once per use; an upper bound).
    size: int


class Literal(Node):
    """A JSON scalar: str, int, float, bool or None."""

    __slots__ = ("value",)

    def __init__(self, value: str | int | float | bool | None) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgument("grafts cannot hold inf or nan literals; use wf.inf / wf.nan")
        self.value = value
        self.key = _digest("lit", type(value).__name__, json.dumps(value))
        self.free = frozenset()
        self.size = 1


_LITERALS: dict[tuple[type, Any], Literal] = {}


def literal(value: str | int | float | bool | None) -> Literal:
    """A Literal node, shared for small common values (nodes are immutable)."""
    small = (isinstance(value, str) and len(value) <= 32) or (isinstance(value, int) and -1024 <= value <= 1024)
    if not small and value is not None:
        return Literal(value)
    key = (type(value), value)
    node = _LITERALS.get(key)
    if node is None:
        node = Literal(value)
        if len(_LITERALS) < 65536:
            _LITERALS[key] = node
    return node


class Quoted(Node):
    """A JSON list or dict, quoted (``[[1, 2]]``)."""

    __slots__ = ("value",)

    def __init__(self, value: list[Any] | dict[str, Any]) -> None:
        text = json.dumps(value, sort_keys=True, allow_nan=False)
        self.value = json.loads(text)
        self.key = _digest("quoted", text)
        self.free = frozenset()
        self.size = 1


class KeyRef(Node):
    """A reference to a name bound elsewhere: a function parameter or a ``wf.parameter``."""

    __slots__ = ("declared", "name")

    def __init__(self, name: str, declared: Any = None) -> None:
        if not is_key(name):
            raise InvalidArgument(f"invalid name {name!r}")
        self.name = name
        #: The proxy type a ``wf.parameter`` was declared with (not part of the key).
        self.declared = declared
        self.key = name
        self.free = frozenset({name})
        self.size = 0


class Apply(Node):
    """Apply a builtin (by name) or a function node to argument nodes."""

    __slots__ = ("args", "fn", "kwargs")

    def __init__(self, fn: str | Node, args: Sequence[Node] = (), kwargs: Mapping[str, Node] | None = None) -> None:
        self.fn = fn
        self.args = tuple(args)
        self.kwargs = tuple(kwargs.items()) if kwargs else ()  # order kept: it is a dict's insertion order
        parts = ["apply", fn if isinstance(fn, str) else fn.key]
        parts.extend([a.key for a in self.args])
        if self.kwargs:
            parts.extend([f"{k}={v.key}" for k, v in self.kwargs])
        self.key = _digest(*parts)
        free: frozenset[str] = _NO_NAMES
        size = 1
        children: Sequence[Node] = self.args
        if self.kwargs or isinstance(fn, Node):
            children = [*self.args, *(v for _, v in self.kwargs), *([fn] if isinstance(fn, Node) else [])]
        for child in children:
            size += child.size
            if child.free:
                free = child.free if not free else free | child.free
        self.free = free
        self.size = size


class Function(Node):
    """A function of named parameters whose body is ``body``."""

    __slots__ = ("body", "params")

    def __init__(self, params: Sequence[str], body: Node) -> None:
        for name in params:
            if not is_key(name) or name.isdigit():
                raise InvalidArgument(f"invalid parameter name {name!r}")
        if len(set(params)) != len(params):
            raise InvalidArgument("parameter names must be unique")
        self.params = tuple(params)
        self.body = body
        self.key = _digest("fn", *self.params, body.key)
        self.free = body.free - frozenset(self.params)
        self.size = 1 + body.size


class LoadedGraft(Node):
    """A graft that came from JSON (a published workflow, a job); written with isolated keys."""

    __slots__ = ("graft",)

    def __init__(self, graft: Graft) -> None:
        validate_graft(graft)
        self.graft = graft
        text = json.dumps(graft, sort_keys=True)
        self.key = _digest("graft", text)
        self.free = _free_names(graft)
        self.size = _count(graft)


def _free_names(graft: Graft) -> frozenset[str]:
    """Names a graft refers to but does not define (keyrefs to parameters)."""
    defined = (set(graft) - RESERVED) | set(graft.get("parameters", []))
    used: set[str] = set()
    for name, expr in graft.items():
        if name == "parameters":
            continue
        if name == "returns":
            used.add(expr)
        elif isinstance(expr, list) and not (len(expr) == 1 and isinstance(expr[0], list | dict)):
            for item in expr:
                if isinstance(item, str):
                    used.add(item)
                elif isinstance(item, dict):
                    used.update(v for v in item.values() if isinstance(v, str))
        elif isinstance(expr, dict):
            used.update(_free_names(expr))
    return frozenset(n for n in used - defined if not n.isdigit() and "." not in n and not _is_builtin_like(n))


def _is_builtin_like(name: str) -> bool:
    from asyncwf.workflows._builtins import BUILTINS

    return name in BUILTINS


def _count(graft: Graft) -> int:
    total = 0
    for name, expr in graft.items():
        if name in RESERVED:
            continue
        total += _count(expr) if isinstance(expr, dict) else 1
    return total


# --- writing ----------------------------------------------------------------


class _Writer:
    """Writes a node DAG into graft dicts, hoisting closure-independent nodes outwards."""

    def __init__(self) -> None:
        # One entry per open function body: (body dict, names bound there, keys written there).
        self.scopes: list[tuple[Graft, frozenset[str], set[str]]] = []

    def _target(self, node: Node) -> int:
        if not node.free:
            return 0
        for depth in range(len(self.scopes) - 1, 0, -1):
            if node.free & self.scopes[depth][1]:
                return depth
        return 0

    def _visible(self, key: str) -> bool:
        scopes = self.scopes
        if len(scopes) == 1:
            return key in scopes[0][2]
        return any(key in written for _, _, written in scopes)

    def write(self, node: Node) -> str:
        """Write ``node`` (and what it needs) and return the key that refers to it."""
        if isinstance(node, KeyRef):
            return node.name
        if self._visible(node.key):
            return node.key
        stack: list[tuple[Node, bool]] = [(node, False)]
        while stack:
            current, children_done = stack.pop()
            if isinstance(current, KeyRef) or self._visible(current.key):
                continue
            if isinstance(current, Apply) and not children_done:
                stack.append((current, True))
                pending = [*current.args, *(v for _, v in current.kwargs)]
                if isinstance(current.fn, Node):
                    pending.append(current.fn)
                stack.extend((child, False) for child in reversed(pending))
                continue
            self._emit(current)
        return node.key

    def _emit(self, node: Node) -> None:
        body, _, written = self.scopes[self._target(node)]
        if isinstance(node, Literal):
            body[node.key] = node.value
        elif isinstance(node, Quoted):
            body[node.key] = [node.value]
        elif isinstance(node, Apply):
            # Children were written first (post-order), so their keys are visible here.
            fn = node.fn if isinstance(node.fn, str) else _ref(node.fn)
            expr: list[Any] = [fn, *[_ref(a) for a in node.args]]
            if node.kwargs:
                expr.append({name: _ref(value) for name, value in node.kwargs})
            body[node.key] = expr
        elif isinstance(node, Function):
            inner: Graft = {"parameters": list(node.params)}
            self.scopes.append((inner, frozenset(node.params), set()))
            try:
                inner["returns"] = self.write(node.body)
            finally:
                self.scopes.pop()
            body[node.key] = inner
        elif isinstance(node, LoadedGraft):
            # isolate_keys: the loaded graft becomes a zero-argument function, applied.
            inner_key = _digest("isolated", node.key)
            body[inner_key] = node.graft
            written.add(inner_key)
            if "parameters" in node.graft:
                body[node.key] = node.graft
            else:
                body[node.key] = [inner_key]
        written.add(node.key)


def _ref(node: Node) -> str:
    return node.name if isinstance(node, KeyRef) else node.key


def declared_parameters(node: Node) -> dict[str, Any]:
    """Name -> declared type of every free ``wf.parameter`` below ``node``."""
    found: dict[str, Any] = {}
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen or not current.free:
            continue
        seen.add(id(current))
        if isinstance(current, KeyRef):
            if current.name in node.free:
                found.setdefault(current.name, current.declared)
        elif isinstance(current, Apply):
            stack.extend(current.args)
            stack.extend(v for _, v in current.kwargs)
            if isinstance(current.fn, Node):
                stack.append(current.fn)
        elif isinstance(current, Function):
            stack.append(current.body)
    return found


def to_graft(node: Node) -> Graft:
    """The graft dict of ``node`` (a function graft if ``node`` is a :class:`Function`)."""
    if isinstance(node, KeyRef):
        return {"returns": node.name}
    if isinstance(node, Function):
        writer = _Writer()
        graft: Graft = {"parameters": list(node.params)}
        writer.scopes.append((graft, frozenset(node.params), set()))
        graft["returns"] = writer.write(node.body)
        return graft
    writer = _Writer()
    top: Graft = {}
    writer.scopes.append((top, frozenset(), set()))
    top["returns"] = writer.write(node)
    return top


def isolate_keys(graft: Graft) -> Graft:
    """Wrap a graft so its keys cannot collide with the keys around it."""
    validate_graft(graft)
    inner, outer = _digest("isolate-inner", json.dumps(graft, sort_keys=True)), _digest("isolate-outer", "")
    return {inner: graft, outer: [inner], "returns": outer}


def parametrize(graft: Graft, **params: Any) -> Graft:
    """Bind parameter values around ``graft``: JSON values, or value grafts (applied)."""
    wrapped = isolate_keys(graft)
    for name, value in params.items():
        if not is_key(name) or name.isdigit():
            raise InvalidArgument(f"invalid parameter name {name!r}")
        if isinstance(value, dict) and "returns" in value:
            validate_graft(value)
            fn_key = _digest("param-fn", name, json.dumps(value, sort_keys=True))
            wrapped[fn_key] = value
            wrapped[name] = [fn_key]
        elif isinstance(value, list | dict):
            wrapped[name] = [value]
        else:
            wrapped[name] = value
    return wrapped


# --- validation ---------------------------------------------------------------


def validate_graft(graft: object, *, _depth: int = 0, max_depth: int = 256) -> None:
    """Check a graft's syntax (not its meaning); raise InvalidArgument with the reason."""
    if _depth > max_depth:
        raise InvalidArgument(f"graft nesting deeper than {max_depth}")
    if not isinstance(graft, dict):
        raise InvalidArgument(f"a graft must be a JSON object, not {type(graft).__name__}")
    if "returns" not in graft or not isinstance(graft["returns"], str):
        raise InvalidArgument("a graft needs a 'returns' key naming a key")
    params = graft.get("parameters", [])
    if not isinstance(params, list) or not all(is_key(p) and not p.isdigit() for p in params):
        raise InvalidArgument("'parameters' must be a list of non-numeric names")
    for key, expr in graft.items():
        if key in RESERVED:
            continue
        if not isinstance(key, str) or not key:
            raise InvalidArgument(f"invalid key {key!r}")
        if isinstance(expr, dict):
            validate_graft(expr, _depth=_depth + 1, max_depth=max_depth)
        elif isinstance(expr, list):
            if not expr:
                raise InvalidArgument(f"key {key!r}: an application needs a function")
            if len(expr) == 1 and isinstance(expr[0], list | dict):
                continue  # quoted JSON
            if not isinstance(expr[0], str):
                raise InvalidArgument(f"key {key!r}: the function of an application must be a key")
            for i, arg in enumerate(expr[1:], start=1):
                if isinstance(arg, dict) and i == len(expr) - 1:
                    if not all(isinstance(k, str) and isinstance(v, str) for k, v in arg.items()):
                        raise InvalidArgument(f"key {key!r}: named arguments must map names to keys")
                elif not isinstance(arg, str):
                    raise InvalidArgument(f"key {key!r}: argument {i} must be a key, not {arg!r}")
        elif not (expr is None or isinstance(expr, str | int | float | bool)):
            raise InvalidArgument(f"key {key!r}: unsupported expression {type(expr).__name__}")
