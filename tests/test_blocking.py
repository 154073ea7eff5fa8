"""asyncwf.blocking: every coroutine and async generator has a working blocking twin."""

from __future__ import annotations

import inspect
import threading

import pytest

import asyncwf
import asyncwf.blocking as wf
from asyncwf.blocking._wrap import BlockingProxy
from asyncwf.exceptions import JobFailed, NotFound


def _async_members(cls: type) -> list[str]:
    names = []
    for name, member in inspect.getmembers_static(cls):
        if name.startswith("_") and name not in {"__aenter__", "__aexit__"}:
            continue
        raw = member.__func__ if isinstance(member, classmethod | staticmethod) else member
        if inspect.iscoroutinefunction(raw) or inspect.isasyncgenfunction(raw):
            names.append(name)
    return names


PUBLIC = [(name, getattr(asyncwf, name)) for name in asyncwf.__all__]


def test_every_async_name_has_a_sync_twin() -> None:
    missing = []
    for name, obj in PUBLIC:
        twin = getattr(wf, name, None)
        if twin is None:
            missing.append(name)
        elif inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj):
            if inspect.iscoroutinefunction(twin) or inspect.isasyncgenfunction(twin):
                missing.append(name)
        elif inspect.isclass(obj):
            for member in _async_members(obj):
                if member == "__aenter__":
                    if not hasattr(twin, "__enter__"):
                        missing.append(f"{name}.__enter__")
                    continue
                if member == "__aexit__":
                    continue
                twin_member = inspect.getattr_static(twin, member, None)
                raw = twin_member.__func__ if isinstance(twin_member, classmethod | staticmethod) else twin_member
                if raw is None or inspect.iscoroutinefunction(raw) or inspect.isasyncgenfunction(raw):
                    missing.append(f"{name}.{member}")
                elif not getattr(raw, "__blocking_twin__", False):
                    missing.append(f"{name}.{member} (not generated)")
    assert not missing, f"no blocking twin for: {missing}"
    assert sorted(wf.__all__) == sorted([*asyncwf.__all__, "LocalBackend", "shutdown"])


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
