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
from typing import Any, cast

from asyncwf._context import JobFailureError
from asyncwf.graft._syntax import RESERVED, Graft, validate_graft

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
    """A function a graft may call, with the arguments it takes (checked before it is called).

    ``higher_order`` ones receive the interpreter first. ``params`` are taken by position, the first
    ``required`` of them required unless named; ``variadic`` ones take any number more; ``keywords`` may be
    given by name (any name with ``any_keywords``). ``required`` and ``high`` bound the positional count.
    """

    name: str
    fn: Callable[..., Any]
    higher_order: bool = False
    params: tuple[str, ...] = ()
    required: int = 0
    variadic: bool = False
    keywords: frozenset[str] = frozenset()
    any_keywords: bool = False
    domain: str = ""
    #: Other names it is read under (1.0's bare names, numpy synonyms).
    aliases: tuple[str, ...] = ()
    #: The most positional arguments it takes (from ``params`` and ``variadic``).
    high: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "high", (1 << 30) if self.variadic else len(self.params))

    @property
    def signature(self) -> str:
        """How it is called, for messages and the docs: ``wf.range(start, [stop, step], {start, stop, step})``."""
        shown = [*self.params[: self.required]]
        if len(self.params) > self.required:
            shown.append(f"[{', '.join(self.params[self.required :])}]")
        if self.variadic:
            shown.append("...")
        if self.keywords or self.any_keywords:
            shown.append("{" + (", ".join(sorted(self.keywords)) or "any name") + "}")
        return f"{self.name}({', '.join(shown)})"

    def check(self, positional: int, named: Mapping[str, Any] | None = None) -> None:
        """Raise a TYPING GraftError naming this builtin unless it takes these arguments."""
        if not self.required <= positional <= self.high:
            missing = [p for p in self.params[positional : self.required] if not named or p not in named]
            if positional > self.high:
                low = self.required
                took = "no" if not self.high else f"{low} to {self.high}" if low < self.high else low
                raise GraftError("TYPING", f"takes {took} positional arguments, got {positional}: {self.signature}")
            if missing:
                raise GraftError("TYPING", f"missing argument {', '.join(map(repr, missing))}: {self.signature}")
        if named:
            for key in named:
                if key in self.params[:positional]:
                    raise GraftError("TYPING", f"argument {key!r} given twice: {self.signature}")
                if key not in self.keywords and not self.any_keywords:
                    raise GraftError("TYPING", f"takes no argument {key!r}: {self.signature}")


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
_MISSING = object()


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
        #: Per body (by id): its keys and their positions if it defines no functions, else None.
        self._shapes: dict[int, Any] = {}
        self._plans: dict[tuple[int, str], Any] = {}
        self._budget = self.limits.check_every
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
            total = validate_graft(graft, max_depth=self.limits.max_depth)
        except ValueError as exc:
            raise GraftError("INVALID", str(exc)) from exc
        if total > self.limits.max_nodes:
            raise GraftError("OOM", f"the graft has more than {self.limits.max_nodes} nodes")
        self._total = max(total, 1)
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
        except RecursionError as exc:  # a safety net: max_call_depth should stop it first
            raise GraftError("INVALID", "function calls nested too deeply") from exc
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
        """The scope defining ``key`` (None for builtins) and its value (_MISSING if not computed yet)."""
        if not isinstance(key, str) or key in RESERVED:
            raise GraftError("INVALID", f"{key!r} is not a key")
        current: _Scope | None = scope
        while current is not None:
            if key in current.values:
                return current, current.values[key]
            if key in current.body:
                return current, _MISSING
            current = current.parent
        builtin = self.builtins.get(key)
        if builtin is None:
            raise GraftError("INVALID", f"unknown name {key!r}")
        return None, builtin

    def _tick(self) -> None:
        """Count a step; every ``check_every`` steps check the clock, the cancel flag and report progress."""
        self._budget -= 1
        if self._budget > 0:
            return
        self._budget = self.limits.check_every
        self._steps += self.limits.check_every
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise GraftError("DEADLINE", f"evaluation took longer than {self.limits.timeout} s")
        if self._cancel is not None and self._cancel.is_set():
            raise GraftError("TERMINATED", "the job was cancelled")
        if self._progress is not None:
            # Steps evaluated of an estimate of the steps (the graft's expressions, grown as loops add more):
            # one unit for both; the last step is left for the end, which the job's success reports.
            self._total = max(self._total, self._steps + 1)
            self._progress(self._steps, self._total)

    def _evaluate(self, key: str, scope: _Scope) -> Any:
        """Value of ``key`` as seen from ``scope``."""
        owner, value = self._lookup(key, scope)
        if value is _BUSY:
            raise GraftError("INVALID", f"cycle: key {key!r} depends on itself")
        if owner is None or value is not _MISSING:
            return value
        return self._evaluate_in(key, owner)

    def _outer(self, ref: str, scope: _Scope) -> Any:
        """A name ``scope`` does not define: from an enclosing scope (evaluated there) or a builtin."""
        if scope.parent is None:
            owner, value = None, self.builtins.get(ref)
            if value is None:
                raise GraftError("INVALID", f"unknown name {ref!r}")
        else:
            owner, value = self._lookup(ref, scope.parent)
        if value is _BUSY:
            raise GraftError("INVALID", f"cycle: key {ref!r} depends on itself")
        if value is _MISSING:
            assert owner is not None
            # Recursion here is bounded by how deeply scopes nest, not by the graft's size.
            value = self._evaluate_in(ref, owner)
        return value

    def _plan(self, body: Mapping[str, Any], root: str) -> list[str] | None:
        """The keys ``root`` needs, in an order where each comes after what it uses; None if there is none.

        Only for bodies that define no functions (so every key of the body is
        used by the body alone, and nothing is evaluated that a lazy
        ``ifelse`` branch would skip) and whose applications refer only to keys
        written before them, as grafts from asyncwf's writer do. Unused keys are
        left alone, exactly as the search would.
        """
        shape = self._shapes.get(id(body), _MISSING)
        if shape is _MISSING:
            shape = self._shapes[id(body)] = _shape(body)
        if shape is None:
            return None
        keys, position, exprs = shape
        end = position.get(root)
        if end is None:
            return None
        needed = [False] * (end + 1)
        needed[end] = True
        at = position.get
        for index in range(end, -1, -1):
            if not needed[index]:
                continue
            expr = exprs[index]
            if type(expr) is not list:
                continue
            last = expr[-1]
            if type(last) is dict:
                if len(expr) == 1:
                    continue  # quoted JSON
                refs: list[Any] = [*expr[:-1], *last.values()]
            elif len(expr) == 1 and type(last) is list:
                continue  # quoted JSON
            else:
                refs = expr
            for ref in refs:
                where = at(ref)
                if where is not None:  # else from an enclosing scope, or a builtin
                    if where >= index:
                        return None  # a forward reference (or a cycle): let the search sort it out
                    needed[where] = True
        if all(needed):
            return cast(list[str], keys[: end + 1])
        return [key for key, wanted in zip(keys, needed, strict=False) if wanted]

    def _evaluate_forward(self, plan: list[str], root: str, owner: _Scope) -> Any:
        """Evaluate ``plan`` in order (see :meth:`_plan`): the hot loop of big grafts.

        The step budget is kept in a local and written back around anything
        that may evaluate more (calls, outer names); plain builtins of one or
        two arguments are called directly.
        """
        values, body = owner.values, owner.body
        budget = self._budget
        for key in plan:
            if key in values:
                if values[key] is _BUSY:
                    raise GraftError("INVALID", f"cycle: key {key!r} depends on itself")
                continue
            expr = body[key]
            if type(expr) is not list or (len(expr) == 1 and type(expr[0]) in (list, dict)):
                self._budget = budget
                values[key] = self._immediate(key, expr, owner)
                budget = self._budget
                continue
            budget -= 1
            if budget <= 0:
                self._budget = 1
                self._tick()
                budget = self._budget
            last = expr[-1]
            named = last if type(last) is dict and len(expr) > 1 else None
            refs: list[Any] = expr if named is None else [*expr[:-1], *named.values()]
            for ref in refs:
                if ref not in values:
                    # Keys of this body are all computed by now: this is an outer name or a builtin.
                    self._budget = budget
                    values[ref] = self._outer(ref, owner)
                    budget = self._budget
            fn = values[expr[0]]
            # No _BUSY mark: everything this key uses comes before it, so it cannot be met again here.
            if named is None and type(fn) is Builtin and not fn.higher_order:
                arity = len(expr)
                try:
                    if not fn.required < arity <= fn.high + 1:
                        fn.check(arity - 1)
                    if arity == 3:
                        values[key] = fn.fn(values[expr[1]], values[last])
                    elif arity == 2:
                        values[key] = fn.fn(values[last])
                    else:
                        values[key] = fn.fn(*[values[ref] for ref in expr[1:]])
                except GraftError as exc:
                    raise _located(exc, fn, key) from None
                except Exception as exc:
                    raise _builtin_error(fn, exc, key) from exc
                continue
            self._budget = budget
            if named is None and type(fn) is Closure:
                value = self.call(fn, tuple([values[ref] for ref in expr[1:]]))  # one frame less than _apply
            else:
                value = self._apply(key, [values[ref] for ref in refs], named)
            budget = self._budget
            values[key] = value
        self._budget = budget
        return values[root]

    def _evaluate_in(self, root: str, owner: _Scope) -> Any:
        """Evaluate ``root``, defined in ``owner``'s body: in one forward pass when the body allows
        (see :meth:`_plan`), else with an explicit stack of keys.

        Every key on the stack is marked _BUSY in ``owner.values`` (meeting it
        again is a cycle). A key is visited when pushed and again when its last
        missing argument is known; only then is its function called.
        """
        plan_key = (id(owner.body), root)
        plan = self._plans.get(plan_key, _MISSING)
        if plan is _MISSING:
            # Cached: a function's body is planned once however often it is called (map, reduce ...).
            plan = self._plans[plan_key] = self._plan(owner.body, root)
        if plan is not None:
            return self._evaluate_forward(cast(list[str], plan), root, owner)
        values, body = owner.values, owner.body
        values[root] = _BUSY
        stack = [root]
        value: Any = None
        while stack:
            key = stack[-1]
            expr = body[key]
            if type(expr) is not list or (len(expr) == 1 and type(expr[0]) in (list, dict)):
                value = self._immediate(key, expr, owner)
                values[key] = value
                stack.pop()
                continue
            named = expr[-1] if type(expr[-1]) is dict and len(expr) > 1 else None
            refs: list[Any] = expr if named is None else [*expr[:-1], *named.values()]
            child = None
            for ref in refs:
                if ref in values:
                    if values[ref] is _BUSY:
                        raise GraftError("INVALID", f"cycle: key {ref!r} depends on itself")
                elif ref in body and ref not in RESERVED:
                    sub = body[ref]
                    if type(sub) is list and not (len(sub) == 1 and type(sub[0]) in (list, dict)):
                        child = ref
                        break
                    values[ref] = self._immediate(ref, sub, owner)
                else:
                    # Remembered here too: the name means the same thing everywhere in this scope.
                    values[ref] = self._outer(ref, owner)
            if child is not None:
                values[child] = _BUSY
                stack.append(child)
                continue
            stack.pop()
            self._tick()
            fn = values[expr[0]]
            if named is None and type(fn) is Builtin and not fn.higher_order:
                value = _call_plain(fn, [values[ref] for ref in expr[1:]], key)  # the common case
            else:
                value = self._apply(key, [values[ref] for ref in refs], named)
            values[key] = value
        return value

    def _immediate(self, key: str, expr: Any, owner: _Scope) -> Any:
        """The value of an expression that is not an application: a literal, quoted JSON or a function."""
        self._tick()
        if type(expr) is list:
            return _thaw(expr[0])
        if type(expr) is dict:
            return Closure(expr, owner)
        return expr

    def _apply(self, key: str, args: list[Any], named: dict[str, str] | None) -> Any:
        """Call ``args[0]`` with the rest; the last ``len(named)`` of them are named."""
        fn = args[0]
        kwargs: dict[str, Any] = {}
        if named is not None:
            split = len(args) - len(named)
            kwargs = dict(zip(named, args[split:], strict=True))
            del args[split:]
        if type(fn) is Builtin:
            return self._call_builtin(fn, args[1:], kwargs, key)
        if isinstance(fn, Closure):
            return self.call(fn, tuple(args[1:]), kwargs)
        raise GraftError("TYPING", f"key {key!r}: {type(fn).__name__} value is not callable")

    def _call_builtin(self, fn: Builtin, args: list[Any], kwargs: dict[str, Any], key: str = "") -> Any:
        try:
            fn.check(len(args), kwargs)
            if fn.higher_order:
                return fn.fn(self, *args, **kwargs)
            return fn.fn(*args, **kwargs)
        except GraftError as exc:
            raise _located(exc, fn, key) from None
        except Exception as exc:
            raise _builtin_error(fn, exc, key) from exc


def _call_plain(fn: Builtin, args: list[Any], key: str = "") -> Any:
    """A plain (not higher-order) builtin applied to positional arguments, its errors made GraftErrors."""
    try:
        if not fn.required <= len(args) <= fn.high:
            fn.check(len(args))
        return fn.fn(*args)
    except GraftError as exc:
        raise _located(exc, fn, key) from None
    except Exception as exc:
        raise _builtin_error(fn, exc, key) from exc


def _located(exc: GraftError, fn: Builtin, key: str) -> GraftError:
    """A builtin's own GraftError, naming the builtin and the key it was applied at (once: the innermost)."""
    if "(at key " in exc.message or exc.message.startswith(f"{fn.name}:"):
        return exc
    return GraftError(exc.code, f"{fn.name} (at key {key!r}): {exc.message}" if key else f"{fn.name}: {exc.message}")


def _builtin_error(fn: Builtin, exc: Exception, key: str = "") -> Exception:
    """The GraftError for an exception raised by a builtin (others are returned as they are), naming the
    builtin and the graft key it was applied at (wrong arity or keyword: TYPING, with Python's words)."""
    where = f"{fn.name} (at key {key!r})" if key else fn.name
    if isinstance(exc, TypeError | AttributeError):
        return GraftError("TYPING", f"{where}: {exc}")
    if isinstance(exc, RecursionError):
        return GraftError("INVALID", f"{where}: nested too deeply")
    if isinstance(exc, ValueError | LookupError | ArithmeticError):
        return GraftError("INVALID", f"{where}: {type(exc).__name__}: {exc}")
    if isinstance(exc, MemoryError):
        return GraftError("OOM", f"{where}: out of memory")
    return exc


def _shape(body: Mapping[str, Any]) -> tuple[list[str], dict[str, int], list[Any]] | None:
    """A body's keys in order, their positions and their expressions; None if it defines a function."""
    keys: list[str] = []
    position: dict[str, int] = {}
    exprs: list[Any] = []
    for key, expr in body.items():
        if type(expr) is dict:
            return None
        if key not in RESERVED:
            position[key] = len(keys)
            keys.append(key)
            exprs.append(expr)
    return keys, position, exprs


def _thaw(value: Any) -> Any:
    """A fresh copy of quoted JSON (the graft is never shared with results)."""
    if isinstance(value, list):
        return [_thaw(v) for v in value]
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    return value
