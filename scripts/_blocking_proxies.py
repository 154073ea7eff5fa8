"""The blocking proxy types for ``scripts/gen_blocking.py``: ``asyncwf/blocking/_proxytypes.py``.

Every proxy class ``asyncwf.workflows.X`` gets a subclass ``X`` whose base is the
twin of its own base (so ``Int`` is a blocking ``Number``) and, at the root,
:class:`asyncwf.blocking._family.Proxytype`, whose ``compute()`` blocks. At run
time the classes only name their async original. Type checkers see, under
``TYPE_CHECKING``, each method whose result is a proxy type written again with
the blocking result types (``Int.__add__`` gives a blocking ``Int``); parameters
keep the async types, which the blocking ones are subclasses of.

The plain functions that build proxies (``ifelse``, ``range``, ``sqrt`` ...) and
the proxy constants (``pi`` ...) get blocking forms that return blocking proxies.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from typing import Any

PROXY_HOME = "_proxytypes"
FAMILY_HOME = "_family"
_DECORATORS = {"overload", "classmethod", "staticmethod", "property"}


def _core() -> Any:
    from asyncwf.workflows.types import _core

    return _core


def is_proxy_class(obj: Any) -> bool:
    return inspect.isclass(obj) and issubclass(obj, _core().Proxytype)


def is_proxy_function(obj: Any) -> bool:
    """A plain function that builds proxies (one of the proxy types' modules, or one returning a Proxytype)."""
    if not inspect.isfunction(obj) or inspect.iscoroutinefunction(obj):
        return False
    return obj.__module__.startswith("asyncwf.workflows.types.") or obj.__annotations__.get("return") == "Proxytype"


def is_proxy_constant(obj: Any) -> bool:
    return isinstance(obj, _core().Proxytype)


def source_name(obj: Any) -> str:
    """The name ``obj`` is bound to in the module that defines it (``Any_`` for the class exported as ``Any``)."""
    module = sys.modules[obj.__module__]
    for name, value in vars(module).items():
        if value is obj:
            return name
    raise SystemExit(f"{obj!r} is not bound in {obj.__module__}")


def constant_home(obj: Any) -> tuple[str, str]:
    """(module, name) where a proxy constant is defined."""
    for module_name, module in sorted(sys.modules.items()):
        if module_name.startswith("asyncwf.workflows.types."):
            for name, value in vars(module).items():
                if value is obj:
                    return module_name, name
    raise SystemExit(f"cannot find where {obj!r} is defined")


def proxy_bases(cls: type) -> list[type]:
    """The proxy classes ``cls`` derives from, nearest first (itself excluded)."""
    return [k for k in cls.__mro__[1:] if is_proxy_class(k)]


class ProxyTwins:
    """Generator methods writing the blocking proxy types (mixed into ``Generator``)."""

    twins: dict[Any, str]
    rewrite: Any
    params: Any
    source: Any
    _lookup: Any
    _use: Any

    def proxy_class(self, name: str, cls: type) -> tuple[list[str], list[str]]:
        """The class as type checkers see it, and as it runs."""
        async_ref = self._use(cls.__module__, source_name(cls), True, wanted=f"_async_{source_name(cls)}")
        base = self.twins[proxy_bases(cls)[0]]
        typevars = [v.__name__ for v in getattr(cls, "__parameters__", ())]
        for var in typevars:
            self._use(cls.__module__, var, False)
        typed_async = f"{async_ref}[{', '.join(typevars)}]" if typevars else async_ref
        own_doc = cls.__dict__.get("__doc__")
        doc = textwrap.indent(quote(inspect.cleandoc(own_doc)), "    ") if own_doc else ""
        checking = [f"class {name}({base}, {typed_async}):"]
        body = [line for stub in self._proxy_stubs(cls) for line in stub.split("\n")]
        checking += body or ["    pass"]
        runtime = [f"class {name}({base}, {async_ref}):"]
        if doc:
            runtime.append(doc)
        runtime += ["    __slots__ = ()", f"    _Async = {async_ref}"]
        if cls.__name__ != name:  # Any_, shown as Any
            runtime += ["", f"{name}.__name__ = {name}.__qualname__ = {cls.__name__!r}"]
        return checking, runtime

    def _proxy_stubs(self, cls: type) -> list[str]:
        """Class-level operator declarations and the methods whose results are proxy types, rewritten."""
        source = inspect.getsource(sys.modules[cls.__module__])
        name = source_name(cls)
        tree = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == name)
        lines = source.splitlines()
        module = cls.__module__
        out: list[str] = []
        groups: dict[str, list[ast.FunctionDef]] = {}
        for node in _class_body(tree):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                annotation = node.annotation
                if "ClassVar" in ast.unparse(annotation) and _public(node.target.id):
                    out.append(f"    {node.target.id}: {self.rewrite(annotation, module, runtime=False)}")
            elif isinstance(node, ast.FunctionDef) and _public(node.name):
                groups.setdefault(node.name, []).append(node)
        for defs in groups.values():
            stubs = [self._stub(fn, module, lines) for fn in defs]
            if any(changed for _, changed in stubs):
                out += [text for text, _ in stubs]
        return out

    def _stub(self, fn: ast.FunctionDef, module: str, source: list[str]) -> tuple[str, bool]:
        decorators = [d.id for d in fn.decorator_list if isinstance(d, ast.Name) and d.id in _DECORATORS]
        first = "staticmethod" not in decorators
        params, _ = self.params(fn, module, skip_first=first)
        if first and fn.args.args and fn.args.args[0].annotation is not None:  # a typed self
            params = params.replace("self", self._param_text(fn.args.args[0], module), 1)
        if "classmethod" in decorators:
            params = "cls" + params[len("self") :]
        returns = "Any" if fn.returns is None else self.rewrite(fn.returns, module, runtime=False)
        lines = [f"    @{self._use('typing', 'overload', False) if d == 'overload' else d}" for d in decorators]
        ignore = source[fn.lineno - 1].partition("  # type: ignore")[2]  # an override the original declares
        lines.append(f"    def {fn.name}({params}) -> {returns}: ..." + (f"  # type: ignore{ignore}" if ignore else ""))
        return "\n".join(lines), fn.returns is not None and self._names_proxy(fn.returns, module)

    def _names_proxy(self, annotation: ast.expr, module: str) -> bool:
        """Whether an annotation names a proxy class (then the blocking class must say its own)."""
        text = annotation.value if isinstance(annotation, ast.Constant) else ast.unparse(annotation)
        for node in ast.walk(ast.parse(str(text), mode="eval")):
            if isinstance(node, ast.Name):
                entry = self.source(module).table.get(node.id)
                if entry is not None and is_proxy_class(self._lookup(*entry)):
                    return True
        return False

    def _param_text(self, arg: ast.arg, module: str) -> str:
        assert arg.annotation is not None
        return f"{arg.arg}: {self.rewrite(arg.annotation, module, runtime=False, proxies=False)}"

    def proxy_function(self, name: str, fn: Any) -> str:
        node = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(fn)))).body[0]
        assert isinstance(node, ast.FunctionDef)
        params, call = self.params(node, fn.__module__, skip_first=False)
        returns = "Any" if node.returns is None else self.rewrite(node.returns, fn.__module__, runtime=False)
        ref = self._use(fn.__module__, source_name(fn), True, wanted=f"_async_{name}")
        doc = textwrap.indent(quote(inspect.cleandoc(fn.__doc__)), "    ") + "\n" if fn.__doc__ else ""
        body = f"    result: {returns} = wrap({ref}({call}))\n    return result\n"
        return f"\n\ndef {name}({params}) -> {returns}:\n{doc}{body}"

    def proxy_constant(self, name: str, obj: Any) -> str:
        module, defined = constant_home(obj)
        ref = self._use(module, defined, True, wanted=f"_async_{name}")
        return f"{name}: {self.twins[type(obj)]} = wrap({ref})"


def _class_body(tree: ast.ClassDef) -> list[ast.stmt]:
    """The statements of a class body, with those of its ``if TYPE_CHECKING:`` blocks."""
    out: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            out += node.body
        else:
            out.append(node)
    return out


def _public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__") and name != "__init__")


def quote(text: str) -> str:
    """``text`` as a docstring literal."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""{text}\n"""' if "\n" in text else f'"""{text}"""'
