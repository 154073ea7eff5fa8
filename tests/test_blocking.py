"""asyncwf.blocking: every coroutine and async generator has a working blocking twin."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import asyncwf
import asyncwf.blocking as wf
from asyncwf.blocking._wrap import BlockingProxy
from asyncwf.exceptions import JobFailed, NotFound
from asyncwf.workflows import Proxytype

ROOT = Path(__file__).resolve().parent.parent


def _async_members(cls: type) -> list[str]:
    names = []
    for name, member in inspect.getmembers_static(cls):
        if name.startswith("_") and name not in {"__aenter__", "__aexit__"}:
            continue
        raw = member.__func__ if isinstance(member, classmethod | staticmethod) else member
        if inspect.iscoroutinefunction(raw) or inspect.isasyncgenfunction(raw):
            names.append(name)
    return names


MIRRORS = [
    ("asyncwf", "asyncwf.blocking"),
    ("asyncwf.workflows", "asyncwf.blocking.workflows"),
    ("asyncwf.data", "asyncwf.blocking.data"),
    ("asyncwf.services", "asyncwf.blocking.services"),
    ("asyncwf.worker", "asyncwf.blocking.worker"),
]


def _same_parameters(original: Any, twin: Any, skip_first: bool = False) -> bool:
    """Same parameter names, kinds and defaults (``FACTORY`` stands for a dataclass field's factory)."""
    ours = list(inspect.signature(original).parameters.values())
    theirs = list(inspect.signature(twin).parameters.values())
    if skip_first:
        theirs = theirs[1:]
    return [(p.name, p.kind, p.default is p.empty) for p in ours] == [
        (p.name, p.kind, p.default is p.empty) for p in theirs
    ]


@pytest.mark.parametrize(("source", "target"), MIRRORS)
def test_every_async_name_has_a_sync_twin_with_its_signature(source: str, target: str) -> None:
    original_module, twin_module = importlib.import_module(source), importlib.import_module(target)
    missing = []
    for name in original_module.__all__:
        obj, twin = getattr(original_module, name), getattr(twin_module, name, None)
        if twin is None:
            missing.append(name)
        elif (
            inspect.iscoroutinefunction(obj)
            or inspect.isasyncgenfunction(obj)
            or inspect.isasyncgenfunction(getattr(obj, "__wrapped__", None))  # an @asynccontextmanager
        ):
            if inspect.iscoroutinefunction(twin) or inspect.isasyncgenfunction(twin):
                missing.append(f"{name} (async)")
            elif not _same_parameters(obj, twin):
                missing.append(f"{name} (signature)")
        elif inspect.isclass(obj) and _async_members(obj):
            assert issubclass(twin, BlockingProxy) and twin._Async is obj, name
            for member in _async_members(obj):
                if member in {"__aenter__", "__aexit__"}:
                    if not hasattr(twin, member.replace("__a", "__")):
                        missing.append(f"{name}.{member}")
                    continue
                twin_member = inspect.getattr_static(twin, member, None)
                raw = twin_member.__func__ if isinstance(twin_member, classmethod | staticmethod) else twin_member
                if raw is None or inspect.iscoroutinefunction(raw) or inspect.isasyncgenfunction(raw):
                    missing.append(f"{name}.{member}")
                elif not _same_parameters(getattr(obj, member), getattr(twin, member)):
                    missing.append(f"{name}.{member} (signature)")
        elif isinstance(obj, type) and issubclass(obj, Proxytype):  # a blocking proxy type: a subclass
            if not (issubclass(twin, obj) and twin._blocking and twin.__name__ == obj.__name__):
                missing.append(f"{name} (not a blocking proxy type)")
        elif isinstance(obj, Proxytype):  # a constant (pi)
            if not (twin._blocking and twin.graft == obj.graft and isinstance(twin, type(obj))):
                missing.append(f"{name} (not the blocking constant)")
        elif inspect.isfunction(obj) and (obj.__module__.startswith("asyncwf.workflows.types.")
                                           or obj.__annotations__.get("return") == "Proxytype"):  # fmt: skip
            if not _same_parameters(obj, twin) or twin.__module__ != "asyncwf.blocking._proxytypes":
                missing.append(f"{name} (not a function giving blocking proxies)")
        elif inspect.ismodule(obj) and f"asyncwf.blocking.{name}" in {t for _, t in MIRRORS}:
            if twin is not importlib.import_module(f"asyncwf.blocking.{name}"):  # its blocking module
                missing.append(f"{name} (not the blocking module)")
        elif twin is not obj:
            missing.append(f"{name} (not the same object)")
    assert not missing, f"no blocking twin for: {missing}"
    expected = set(original_module.__all__)
    if target == "asyncwf.blocking":  # also the compute API's names, as ``import descarteslabs.workflows as wf``
        expected |= {*importlib.import_module("asyncwf.workflows").__all__, "LocalBackend", "shutdown"}
    assert set(twin_module.__all__) == expected


def test_the_blocking_package_has_the_compute_names() -> None:
    import asyncwf.blocking.workflows as bwf
    import asyncwf.workflows

    assert wf.Any is bwf.Any and issubclass(wf.Any, asyncwf.workflows.Any) and wf.Any.__name__ == "Any"
    assert wf.sqrt is bwf.sqrt and wf.range is bwf.range and wf.Image is bwf.Image
    assert wf.TimeoutError is asyncwf.workflows.TimeoutError
    assert wf.XYZ._Async is asyncwf.workflows.XYZ and wf.GeoContext is asyncwf.workflows.GeoContext


def test_the_twins_are_generated_and_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/gen_blocking.py", "--check"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_blocking_objects_take_plain_attribute_assignment(tmp_path: Path) -> None:
    from asyncwf.blocking.data import Manifest

    manifest = Manifest()
    manifest.name = "renamed"
    assert manifest.name == "renamed" and manifest._async.name == "renamed"


def test_the_blocking_api_works_end_to_end() -> None:
    threads_before = threading.active_count()
    with wf.LocalBackend() as backend:
        client = backend.client()
        assert isinstance(client, wf.Client) and isinstance(client, BlockingProxy)
        assert client.health() == "SERVING"
        job = client.run_job("asyncwf.echo", b"sync")
        assert job.state is asyncwf.JobState.SUCCEEDED and client.job_result(job) == b"sync"
        created = client.create_job("asyncwf.sleep", b'{"seconds": 0.1, "steps": 2}')
        events = list(client.watch_job(created.id))
        assert events[-1].state is asyncwf.JobState.SUCCEEDED
        assert [j.id for j in client.list_jobs(kind="asyncwf.sleep")] == [created.id]
        assert client.wait_job(created.id).state is asyncwf.JobState.SUCCEEDED
        with pytest.raises(NotFound):
            client.get_job("missing")
        with pytest.raises(JobFailed):
            client.job_result(client.run_job("asyncwf.fail", b"x"))
        # The default client is scoped per calling thread, like a task's context.
        wf.Client.set_default_client(client)
        assert wf.Client.get_default_client() == client
        seen = []
        other = threading.Thread(target=lambda: seen.append(wf.Client.get_default_client() == client))
        other.start()
        other.join()
        assert seen == [False]
        # Remote executors run sync as well.
        with wf.RemoteExecutor(client, {"blocking.double": lambda ctx: ctx.payload * 2}):
            assert client.job_result(client.run_job("blocking.double", b"ab")) == b"abab"
        with client:
            pass
    # The shared portal thread stays, and AnyIO's pool of idle worker threads (they
    # exit after 10 s idle); nothing per call or per job.
    names = [t.name for t in threading.enumerate() if t.name != "AnyIO worker thread"]
    assert len(names) <= threads_before + 1, names
    assert sum(t.name == "AnyIO worker thread" for t in threading.enumerate()) <= 4


def test_breaking_out_of_an_iterator_closes_the_stream() -> None:
    with wf.LocalBackend() as backend:
        client = backend.client()
        job = client.create_job("asyncwf.sleep", b'{"seconds": 0.3, "steps": 3}')
        for event in client.watch_job(job.id):
            assert isinstance(event, asyncwf.JobInfo)
            break
        assert client.wait_job(job.id).state is asyncwf.JobState.SUCCEEDED
        client.close()


def test_answers_hand_out_blocking_manifests() -> None:
    from asyncwf.blocking._wrap import wrap
    from asyncwf.blocking.data import Manifest as BlockingManifest
    from asyncwf.data import Manifest

    answer = wrap({"output_values": {"n": 1}, "output_manifest": Manifest.deserialise({"datasets": {}})})
    assert isinstance(answer["output_manifest"], BlockingManifest) and answer["output_values"] == {"n": 1}
