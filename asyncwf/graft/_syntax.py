"""Grafts: the wire format of a proxy object's computation (Descartes-compatible).

A graft is a JSON dict ``{key: expression, ..., "returns": key}``, optionally
with ``"parameters": [names]`` (then it is a function). An expression is a
literal, an application ``[fn_key, arg_key, ..., {name: key}]``, quoted JSON
``[[...]]`` / ``[{...}]``, or a nested graft (a function or closure).

Proxy objects do not hold graft dicts: they hold :class:`Node` objects, a DAG
built in O(1) per operation, and the graft is written once when it is sent.
The writer numbers nodes 1, 2, 3 ... in the order it writes them (children
first), so the same program always yields the same graft - no process-wide
counter - equal sub-expressions share one key, and a graft stays compact on
the wire. A node's content hash (``Node.key``, a Merkle hash) is computed only
when something asks for it. When a function is written, every node that does
not depend on its parameters is hoisted to the enclosing scope
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
    "int_literal",
    "is_key",
    "literal",
    "isolate_keys",
    "parametrize",
    "to_graft",
    "validate_graft",
    "wire_graft",
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
    """One expression of a graft. Immutable; built in O(1), hashed only when asked.

    ``key`` is a content hash (a Merkle hash of the node and everything below
    it), computed lazily: building a 10,000-node program costs no hashing, and
    writing a graft does not need it (the writer numbers nodes itself).
    """

    __slots__ = ("_key", "free")

    _key: str | None
    #: Names this node refers to that are not defined inside it (parameters, keyrefs).
    free: frozenset[str]

    @property
    def key(self) -> str:
        """The node's content hash: equal for equal expressions, however they were built."""
        if self._key is None:
            _hash_below(self)
        assert self._key is not None
        return self._key

    def _children(self) -> tuple[Node, ...]:
        return ()

    def _own_key(self) -> str:  # pragma: no cover - every subclass defines it
        raise NotImplementedError


def _hash_below(root: Node) -> None:
    """Set ``_key`` on ``root`` and every unhashed node below it, children first (no recursion)."""
    stack = [root]
    while stack:
        node = stack[-1]
        if node._key is not None:
            stack.pop()
            continue
        missing = [child for child in node._children() if child._key is None]
        if missing:
            stack.extend(missing)
            continue
        node._key = node._own_key()
        stack.pop()


class Literal(Node):
    """A JSON scalar: str, int, float, bool or None."""

    __slots__ = ("value",)

    def __init__(self, value: str | int | float | bool | None) -> None:
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidArgument("grafts cannot hold inf or nan literals; use wf.inf / wf.nan")
        if isinstance(value, int) and value.bit_length() > 14_000:
            raise InvalidArgument("integer literals are limited to 4,000 decimal digits; compute larger ones")
        self.value = value
        self._key = None
        self.free = _NO_NAMES

    def _own_key(self) -> str:
        return _digest("lit", type(self.value).__name__, json.dumps(self.value))


_LITERALS: dict[tuple[type, Any], Literal] = {}


#: Literal nodes of the integers -1024..1024, made once (the hot path of arithmetic on proxies).
_SMALL_INTS: dict[int, Literal] = {}


def int_literal(value: int) -> Literal:
    """``literal(value)`` for a plain int, with a cheaper lookup for small ones."""
    node = _SMALL_INTS.get(value)
    if node is None:
        node = literal(value)
        if -1024 <= value <= 1024:
            _SMALL_INTS[value] = node
    return node


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

    __slots__ = ("text", "value")

    def __init__(self, value: list[Any] | dict[str, Any]) -> None:
        self.text = json.dumps(value, sort_keys=True, allow_nan=False)
        self.value = json.loads(self.text)
        self._key = None
        self.free = _NO_NAMES

    def _own_key(self) -> str:
        return _digest("quoted", self.text)


class KeyRef(Node):
    """A reference to a name bound elsewhere: a function parameter or a ``wf.parameter``."""

    __slots__ = ("declared", "name")

    def __init__(self, name: str, declared: Any = None) -> None:
        if not is_key(name):
            raise InvalidArgument(f"invalid name {name!r}")
        self.name = name
        #: The proxy type a ``wf.parameter`` was declared with (not part of the key).
        self.declared = declared
        self._key = name
        self.free = frozenset({name})


class Apply(Node):
    """Apply a builtin (by name) or a function node to argument nodes."""

    __slots__ = ("args", "fn", "kwargs")

    def __init__(self, fn: str | Node, args: Sequence[Node] = (), kwargs: Mapping[str, Node] | None = None) -> None:
        self.fn = fn
        self.args = args = tuple(args)
        self.kwargs = tuple(kwargs.items()) if kwargs else ()  # order kept: it is a dict's insertion order
        self._key = None
        free: frozenset[str] = _NO_NAMES
        for child in args if not self.kwargs and type(fn) is str else self._children():
            if child.free:
                free = child.free if not free else free | child.free
        self.free = free

    def _children(self) -> tuple[Node, ...]:
        extra = (self.fn,) if isinstance(self.fn, Node) else ()
        return (*self.args, *(v for _, v in self.kwargs), *extra)

    def _own_key(self) -> str:
        parts = ["apply", self.fn if isinstance(self.fn, str) else self.fn.key]
        parts.extend([a.key for a in self.args])
        parts.extend([f"{k}={v.key}" for k, v in self.kwargs])
        return _digest(*parts)


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
        self._key = None
        self.free = body.free - frozenset(self.params)

    def _children(self) -> tuple[Node, ...]:
        return (self.body,)

    def _own_key(self) -> str:
        return _digest("fn", *self.params, self.body.key)


class LoadedGraft(Node):
    """A graft that came from JSON (a published workflow, a job); written with isolated keys."""

    __slots__ = ("graft", "text")

    def __init__(self, graft: Graft) -> None:
        validate_graft(graft)
        self.graft = graft
        self.text = json.dumps(graft, sort_keys=True)
        self._key = None
        self.free = _free_names(graft)

    def _own_key(self) -> str:
        return _digest("graft", self.text)


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
    from asyncwf.graft._vocabulary import BUILTINS

    return name in BUILTINS


# --- writing ----------------------------------------------------------------


class _Body:
    """A graft body being written: its dict, the names bound there, and what is already in it."""

    __slots__ = ("bound", "by_id", "by_shape", "graft")

    def __init__(self, graft: Graft, bound: frozenset[str]) -> None:
        self.graft = graft
        self.bound = bound
        #: node -> key, for nodes written here (nodes hash and compare by identity).
        self.by_id: dict[Node, str] = {}
        #: An expression's shape (in keys) -> key: equal sub-expressions are written once.
        self.by_shape: dict[Any, str] = {}


class _Writer:
    """Writes a node DAG into graft dicts, hoisting closure-independent nodes outwards.

    Keys are the integers 1, 2, 3 ... in the order nodes are written (children
    first), so the same program always yields the same graft, and a key costs
    a few bytes on the wire. Equal sub-expressions share one key.
    """

    def __init__(self) -> None:
        self.bodies: list[_Body] = []
        self.count = 0

    def _target(self, node: Node) -> _Body:
        """The innermost open body that binds a name ``node`` uses (else the outermost)."""
        bodies = self.bodies
        if node.free and len(bodies) > 1:
            for body in reversed(bodies):
                if node.free & body.bound:
                    return body
        return bodies[0]

    def write(self, node: Node) -> str:
        """Write ``node`` (and what it needs) and return the key that refers to it."""
        if type(node) is KeyRef:
            return node.name  # type: ignore[attr-defined]
        if len(self.bodies) == 1:
            self._write_top(node)
        target, first = self._target, self.bodies[0]
        # An explicit stack, so deep chains need no recursion. An application is
        # written once all its children are: their keys are collected on the way.
        stack: list[Node] = [node]
        while stack:
            current = stack[-1]
            body = target(current) if current.free else first
            if current in body.by_id:
                stack.pop()
                continue
            if type(current) is not Apply:
                body.by_id[current] = self._emit(current, body)
                stack.pop()
                continue
            simple = type(current.fn) is str and not current.kwargs  # the common case: a builtin, positional
            keys: list[str] = [current.fn] if simple else []  # type: ignore[list-item]
            missing = False
            for child in current.args if simple else current._children():
                if type(child) is KeyRef:
                    keys.append(child.name)  # type: ignore[attr-defined]
                    continue
                key = (target(child) if child.free else first).by_id.get(child)
                if key is None:
                    stack.append(child)
                    missing = True
                else:
                    keys.append(key)
            if missing:
                continue
            stack.pop()
            if simple:
                body.by_id[current] = self._store(body, tuple(keys), keys)
            else:
                body.by_id[current] = self._emit_apply(current, keys, body)
        return self._ref(node)

    def _write_top(self, node: Node) -> None:
        """:meth:`write` outside any function, for chains of builtin calls: the hot path of big grafts.

        Everything here lands in the one open body, so no scope is looked for;
        anything else (functions, named arguments) is left to :meth:`write`.
        """
        body = self.bodies[0]
        by_id, by_shape, graft = body.by_id, body.by_shape, body.graft
        stack = [node]
        while stack:
            current = stack[-1]
            if current in by_id or type(current) is not Apply or type(current.fn) is not str or current.kwargs:
                stack.pop()  # written already, or not a plain application: write() does it
                continue
            args = current.args
            if (
                len(args) == 2
                and (left := by_id.get(args[0])) is not None
                and (right := by_id.get(args[1])) is not None
            ):
                shape: tuple[str, ...] = (current.fn, left, right)  # type: ignore[assignment]  # the hot case
            else:
                keys: list[str] = [current.fn]  # type: ignore[list-item]
                missing = False
                for child in args:
                    key = by_id.get(child)
                    if key is None:
                        if type(child) is Apply and type(child.fn) is str and not child.kwargs:
                            stack.append(child)
                            missing = True
                            continue
                        key = self.write(child)  # a literal, a reference, a function ...: the general way
                    keys.append(key)
                if missing:
                    continue
                shape = tuple(keys)
            stack.pop()
            key = by_shape.get(shape)
            if key is None:
                self.count += 1
                key = str(self.count)
                # The tuple is the expression too: a tuple of strings leaves the garbage
                # collector's lists at its first collection, so big grafts do not drive
                # full collections (see wire_graft).
                graft[key] = shape
                by_shape[shape] = key
            by_id[current] = key

    def _ref(self, node: Node) -> str:
        if type(node) is KeyRef:
            return node.name  # type: ignore[attr-defined]
        return self._target(node).by_id[node]

    def _emit_apply(self, node: Apply, keys: list[str], body: _Body) -> str:
        """Write an application with named arguments or a function node, given its children's keys."""
        if type(node.fn) is str:
            value: list[Any] = [node.fn, *keys[: len(node.args)]]
        else:
            value = [keys[-1], *keys[: len(node.args)]]
        if node.kwargs:
            named = dict(zip([name for name, _ in node.kwargs], keys[len(node.args) :], strict=False))
            value.append(named)
            shape: tuple[Any, ...] = (*value[:-1], tuple(named.items()))
        else:
            shape = tuple(value)
        return self._store(body, shape, value)

    def _store(self, body: _Body, shape: Any, value: Any) -> str:
        """Put ``value`` in ``body`` under a new key, unless an equal expression is already there."""
        if shape is not None:
            existing = body.by_shape.get(shape)
            if existing is not None:
                return existing
        self.count += 1
        key = str(self.count)
        body.graft[key] = value
        if shape is not None:
            body.by_shape[shape] = key
        return key

    def _emit(self, node: Node, body: _Body) -> str:
        """Write a node that is not an application; return its key (an existing one if equal)."""
        if isinstance(node, Literal):
            return self._store(body, (type(node.value), node.value), node.value)
        if isinstance(node, Quoted):
            return self._store(body, ("quoted", node.text), [node.value])
        if isinstance(node, Function):
            inner: Graft = {"parameters": list(node.params)}
            self.bodies.append(_Body(inner, frozenset(node.params)))
            try:
                inner["returns"] = self.write(node.body)
            finally:
                self.bodies.pop()
            return self._store(body, None, inner)
        assert isinstance(node, LoadedGraft)
        shape = ("graft", node.text)
        existing = body.by_shape.get(shape)
        if existing is not None:
            return existing
        if "parameters" in node.graft:
            return self._store(body, shape, node.graft)
        # isolate_keys: the loaded graft becomes a zero-argument function, applied.
        inner_key = self._store(body, None, node.graft)
        return self._store(body, shape, [inner_key])


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
    graft = wire_graft(node)
    for key, expr in graft.items():
        if type(expr) is tuple:
            graft[key] = list(expr)
    return graft


def wire_graft(node: Node) -> Graft:
    """:func:`to_graft` to be written as JSON at once: applications at the top level may be tuples.

    A 10,000-node program otherwise leaves 10,000 lists behind for the
    collector's oldest generation, which triggers full collections of the
    whole process (tens of milliseconds each) every graft or two.
    """
    if isinstance(node, KeyRef):
        return {"returns": node.name}
    writer = _Writer()
    if isinstance(node, Function):
        graft: Graft = {"parameters": list(node.params)}
        writer.bodies.append(_Body(graft, frozenset(node.params)))
        graft["returns"] = writer.write(node.body)
        return graft
    top: Graft = {}
    writer.bodies.append(_Body(top, _NO_NAMES))
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


def validate_graft(graft: object, *, max_depth: int = 256) -> int:
    """Check a graft's syntax (not its meaning); raise InvalidArgument with the reason.

    Returns the number of expressions in it, nested functions included.
    """
    return _check(graft, 0, max_depth)


def _check(graft: object, depth: int, max_depth: int) -> int:
    if depth > max_depth:
        raise InvalidArgument(f"graft nesting deeper than {max_depth}")
    if not isinstance(graft, dict):
        raise InvalidArgument(f"a graft must be a JSON object, not {type(graft).__name__}")
    if "returns" not in graft or not isinstance(graft["returns"], str):
        raise InvalidArgument("a graft needs a 'returns' key naming a key")
    params = graft.get("parameters", [])
    if not isinstance(params, list) or not all(is_key(p) and not p.isdigit() for p in params):
        raise InvalidArgument("'parameters' must be a list of non-numeric names")
    count = 0
    for key, expr in graft.items():
        count += 1
        kind = type(expr)
        if kind is list:
            # The common case first: an application of keys to keys.
            for item in expr:
                if type(item) is not str:
                    _check_list(key, expr)
                    break
            else:
                if not expr:
                    _check_list(key, expr)
        elif kind is dict:
            count += _check(expr, depth + 1, max_depth) - 1
        elif not (expr is None or kind is str or kind is int or kind is float or kind is bool):
            raise InvalidArgument(f"key {key!r}: unsupported expression {kind.__name__}")
        if type(key) is not str or not key:
            raise InvalidArgument(f"invalid key {key!r}")
    return count - ("returns" in graft) - ("parameters" in graft)


def _check_list(key: str, expr: list[Any]) -> None:
    if key == "parameters":
        return
    if not expr:
        raise InvalidArgument(f"key {key!r}: an application needs a function")
    if len(expr) == 1 and isinstance(expr[0], list | dict):
        return  # quoted JSON
    if not isinstance(expr[0], str):
        raise InvalidArgument(f"key {key!r}: the function of an application must be a key")
    for i, arg in enumerate(expr[1:], start=1):
        if isinstance(arg, dict) and i == len(expr) - 1:
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in arg.items()):
                raise InvalidArgument(f"key {key!r}: named arguments must map names to keys")
        elif not isinstance(arg, str):
            raise InvalidArgument(f"key {key!r}: argument {i} must be a key, not {arg!r}")
