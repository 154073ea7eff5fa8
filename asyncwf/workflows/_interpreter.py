"""The graft interpreter: lexically scoped, memoizing, iterative, bounded.

Only builtins from the registry can run (no eval, no pickle, no user code).
The input graft is never modified. Evaluation uses an explicit stack, so a
graft 10,000 applications deep needs no Python recursion; calls of
user-defined functions from higher-order builtins (``map``, ``reduce`` ...)
nest, bounded by ``max_call_depth``. Every failure is a :class:`GraftError`
with a code: INVALID (malformed graft, unknown name, cycle, bad value),
TYPING (operands of the wrong type), DEADLINE, OOM (size limits), TERMINATED.
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from asyncwf._context import JobFailureError
from asyncwf.workflows._graft import RESERVED, Graft, validate_graft

__all__ = ["Builtin", "Closure", "GraftError", "Interpreter", "Limits"]


class GraftError(JobFailureError):
    """A graft could not be evaluated; ``code`` is one of the JobComputeError codes."""


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one evaluation."""

    max_nodes: int = 1_000_000
    max_depth: int = 256
    max_call_depth: int = 200
    #: Largest list, dict, string or range a builtin may produce.
    max_items: int = 10_000_000
    max_int_bits: int = 1_000_000
    #: Seconds of evaluation; None for no limit.
    timeout: float | None = 60.0
    #: Steps between two checks of the clock and the cancel flag.
    check_every: int = 512


@dataclasses.dataclass(frozen=True, slots=True)
class Builtin:
    """A registered function. ``higher_order`` ones receive the interpreter first."""

    name: str
    fn: Callable[..., Any]
    higher_order: bool = False


class Closure:
    """A function value: a graft with parameters and the scope it was defined in."""

    __slots__ = ("graft", "params", "scope")

    def __init__(self, graft: Graft, scope: _Scope) -> None:
        self.graft = graft
        self.scope = scope
        self.params: tuple[str, ...] = tuple(graft.get("parameters", ()))

    def __repr__(self) -> str:
        return f"<function of {', '.join(self.params) or 'no parameters'}>"


class _Scope:
    __slots__ = ("body", "parent", "values")

    def __init__(self, body: Mapping[str, Any], parent: _Scope | None, values: dict[str, Any] | None = None) -> None:
        self.body = body
        self.parent = parent
        self.values: dict[str, Any] = values or {}


#: The limits of the evaluation running in this context (read by the builtins).
CURRENT_LIMITS: contextvars.ContextVar[Limits] = contextvars.ContextVar("asyncwf_graft_limits")

_BUSY = object()  # memo marker of a key being evaluated (a cycle if met again)


class _Frame:
    """An application waiting for its function and arguments."""

    __slots__ = ("args", "key", "kwargs", "owner", "refs")

    def __init__(self, key: str, owner: _Scope, expr: list[Any]) -> None:
        self.key = key
        self.owner = owner
        named = expr[-1] if len(expr) > 1 and isinstance(expr[-1], dict) else None
        refs: list[tuple[str | None, str]] = [(None, k) for k in (expr[:-1] if named is not None else expr)]
        if named:
            refs += list(named.items())
        self.refs = refs
        self.args: list[Any] = []
        self.kwargs: dict[str, Any] = {}


class Interpreter:
    """Evaluates grafts against a table of builtins within :class:`Limits`."""

    def __init__(
        self,
        builtins: Mapping[str, Builtin],
        limits: Limits | None = None,
        *,
        cancel: threading.Event | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.builtins = builtins
        self.limits = limits or Limits()
        self._cancel = cancel
        self._progress = progress
        self._deadline = None if self.limits.timeout is None else time.monotonic() + self.limits.timeout
        self._steps = 0
        self._total = 1
        self._call_depth = 0

    # --- entry points ----------------------------------------------------------

    def run(self, graft: Graft, arguments: Mapping[str, Any] | None = None) -> Any:
        """Evaluate ``graft``; ``arguments`` bind its parameters or free names (values or grafts)."""
        token = CURRENT_LIMITS.set(self.limits)
        try:
            return self._run(graft, arguments)
        finally:
            CURRENT_LIMITS.reset(token)

    def _run(self, graft: Graft, arguments: Mapping[str, Any] | None) -> Any:
        try:
            validate_graft(graft, max_depth=self.limits.max_depth)
        except ValueError as exc:
            raise GraftError("INVALID", str(exc)) from exc
        self._total = max(_count_nodes(graft, self.limits.max_nodes), 1)
        bound = {name: self._argument(name, value) for name, value in (arguments or {}).items()}
        if "parameters" in graft:
            closure = Closure(graft, _Scope({}, None))
            missing = [p for p in closure.params if p not in bound]
            if missing:
                raise GraftError("INVALID", f"missing arguments: {', '.join(missing)}")
            return self.call(closure, (), {p: bound[p] for p in closure.params})
        root = _Scope({}, None, dict(bound))
        return self._evaluate(graft["returns"], _Scope(graft, root))

    def _argument(self, name: str, value: Any) -> Any:
        if isinstance(value, dict) and "returns" in value:
            return Interpreter(self.builtins, self.limits, cancel=self._cancel).run(value)
        return value

    def call(self, fn: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any] | None = None) -> Any:
        """Call a function value (a Closure or a builtin) with evaluated arguments."""
        if isinstance(fn, Builtin):
            return self._call_builtin(fn, list(args), dict(kwargs or {}))
        if not isinstance(fn, Closure):
            raise GraftError("TYPING", f"{type(fn).__name__} value is not callable")
        self._call_depth += 1
        try:
            if self._call_depth > self.limits.max_call_depth:
                raise GraftError("INVALID", f"function calls nested deeper than {self.limits.max_call_depth}")
            scope = self._bind(fn, args, kwargs or {})
            return self._evaluate(fn.graft["returns"], scope)
        finally:
            self._call_depth -= 1

    # --- evaluation ---------------------------------------------------------------

    def _bind(self, fn: Closure, args: tuple[Any, ...] | list[Any], kwargs: Mapping[str, Any]) -> _Scope:
        if len(args) > len(fn.params):
            raise GraftError("INVALID", f"{fn!r} takes {len(fn.params)} arguments, got {len(args)}")
        values = dict(zip(fn.params, args, strict=False))
        for name, value in kwargs.items():
            if name not in fn.params or name in values:
                raise GraftError("INVALID", f"unexpected or repeated argument {name!r} for {fn!r}")
            values[name] = value
        missing = [p for p in fn.params if p not in values]
        if missing:
            raise GraftError("INVALID", f"{fn!r} is missing arguments: {', '.join(missing)}")
        return _Scope(fn.graft, fn.scope, values)

    def _lookup(self, key: str, scope: _Scope) -> tuple[_Scope | None, Any]:
        """The scope defining ``key`` (None for builtins) and its value or expression."""
        if not isinstance(key, str) or key in RESERVED:
            raise GraftError("INVALID", f"{key!r} is not a key")
        current: _Scope | None = scope
        while current is not None:
            if key in current.values:
                return current, current.values[key]
            if key in current.body:
                return current, None
            current = current.parent
        builtin = self.builtins.get(key)
        if builtin is None:
            raise GraftError("INVALID", f"unknown name {key!r}")
        return None, builtin

    def _tick(self) -> None:
        self._steps += 1
        if self._steps % self.limits.check_every:
            return
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise GraftError("DEADLINE", f"evaluation took longer than {self.limits.timeout} s")
        if self._cancel is not None and self._cancel.is_set():
            raise GraftError("TERMINATED", "the job was cancelled")
        if self._progress is not None:
            self._progress(min(self._steps, self._total), max(self._steps, self._total))

    def _evaluate(self, key: str, scope: _Scope) -> Any:
        """Value of ``key`` in ``scope``, computed with an explicit stack."""
        owner, found = self._lookup(key, scope)
        if owner is None or (found is not None and found is not _BUSY):
            return found
        stack: list[_Frame] = []
        value = self._start(key, owner, stack)
        while stack:
            frame = stack[-1]
            pending = self._next_missing(frame, stack)
            if pending:
                continue
            stack.pop()
            value = self._finish(frame, stack)
        return value

    def _start(self, key: str, owner: _Scope, stack: list[_Frame]) -> Any:
        """Evaluate a key's expression if it is immediate, else push a frame; returns its value or _BUSY."""
        if key in owner.values:
            memo = owner.values[key]
            if memo is _BUSY:
                raise GraftError("INVALID", f"cycle: key {key!r} depends on itself")
            return memo
        expr = owner.body[key]
        self._tick()
        if isinstance(expr, dict):
            value: Any = Closure(expr, owner)
        elif isinstance(expr, list):
            if len(expr) == 1 and isinstance(expr[0], list | dict):
                value = _thaw(expr[0])
            else:
                owner.values[key] = _BUSY
                stack.append(_Frame(key, owner, expr))
                return _BUSY
        else:
            value = expr
        owner.values[key] = value
        return value

    def _next_missing(self, frame: _Frame, stack: list[_Frame]) -> bool:
        """Resolve the frame's function and arguments; push the first one not yet computed."""
        refs = frame.refs
        args, kwargs = frame.args, frame.kwargs
        owner_values, owner_body = frame.owner.values, frame.owner.body
        done = len(args) + len(kwargs)
        while done < len(refs):
            name, ref = refs[done]
            # Fast path: the key is defined (and maybe computed) in the frame's own scope.
            if ref in owner_values:
                value = owner_values[ref]
                if value is _BUSY:
                    raise GraftError("INVALID", f"cycle: key {ref!r} depends on itself")
            elif ref in owner_body and ref not in RESERVED:
                value = self._start(ref, frame.owner, stack)
                if value is _BUSY:
                    return True
            else:
                owner, found = self._lookup(ref, frame.owner)
                if owner is None:
                    value = found
                elif ref in owner.values:
                    value = owner.values[ref]
                    if value is _BUSY:
                        raise GraftError("INVALID", f"cycle: key {ref!r} depends on itself")
                else:
                    value = self._start(ref, owner, stack)
                    if value is _BUSY:
                        return True
            if name is None:
                args.append(value)
            else:
                kwargs[name] = value
            done += 1
        return False

    def _finish(self, frame: _Frame, stack: list[_Frame]) -> Any:
        fn, *args = frame.args
        if isinstance(fn, Builtin):
            value = self._call_builtin(fn, args, frame.kwargs)
        elif isinstance(fn, Closure):
            value = self.call(fn, tuple(args), frame.kwargs)
        else:
            raise GraftError("TYPING", f"key {frame.key!r}: {type(fn).__name__} value is not callable")
        frame.owner.values[frame.key] = value
        return value

    def _call_builtin(self, fn: Builtin, args: list[Any], kwargs: dict[str, Any]) -> Any:
        try:
            if fn.higher_order:
                return fn.fn(self, *args, **kwargs)
            return fn.fn(*args, **kwargs)
        except GraftError:
            raise
        except (TypeError, AttributeError) as exc:
            raise GraftError("TYPING", f"{fn.name}: {exc}") from exc
        except (ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError, ArithmeticError) as exc:
            raise GraftError("INVALID", f"{fn.name}: {type(exc).__name__}: {exc}") from exc
        except MemoryError as exc:
            raise GraftError("OOM", f"{fn.name}: out of memory") from exc
        except RecursionError as exc:
            raise GraftError("INVALID", f"{fn.name}: nested too deeply") from exc


def _thaw(value: Any) -> Any:
    """A fresh copy of quoted JSON (the graft is never shared with results)."""
    if isinstance(value, list):
        return [_thaw(v) for v in value]
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    return value


def _count_nodes(graft: Graft, limit: int) -> int:
    total = 0
    stack: list[Graft] = [graft]
    while stack:
        current = stack.pop()
        for key, expr in current.items():
            if key in RESERVED:
                continue
            total += 1
            if isinstance(expr, dict):
                stack.append(expr)
        if total > limit:
            raise GraftError("OOM", f"the graft has more than {limit} nodes")
    return total
