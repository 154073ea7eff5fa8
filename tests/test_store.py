"""The store suite, against SQLite and PostgreSQL: schema, conditional updates, claims, logs, documents, entities."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asyncwf import JobInfo, JobState, LogRecord, Progress
from asyncwf.exceptions import Conflict
from asyncwf.server import JobFilter, PostgresStore, SQLiteStore, Store
from asyncwf.server.store._store import JobUpdate, NewJob

from .conftest import eventually

UTC = dt.UTC


def _job(job_id: str, kind: str = "k", priority: int = 0, key: str = "", offset: float = 0.0) -> JobInfo:
    now = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=offset)
    return JobInfo(
        id=job_id, kind=kind, state=JobState.QUEUED, version=1, idempotency_key=key, priority=priority,
        created_at=now, updated_at=now, labels={"a": "1"},
    )  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Makes stores of the parametrized kind on one database (a new store reopens it)."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path / "db.sqlite3")
    dsn = request.getfixturevalue("postgres_dsn")
    return lambda: PostgresStore(dsn)


@pytest.fixture
async def store(store_factory: Any) -> AsyncIterator[Store]:
    s = store_factory()
    await s.open()
    yield s
    await s.close()


async def test_schema_is_migrated_once_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    for _ in range(2):
        s = SQLiteStore(path)
        await s.open()
        await s.insert_job(_job(f"j{_}"), "d")
        await s.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 2
    with pytest.raises(ValueError):
        SQLiteStore(path, synchronous="sometimes")


async def test_round_trip_of_every_field(store: Store) -> None:
    job = _job("a", key="k1")
    stored, created = await store.insert_job(job, "digest")
    assert created and stored == job
    assert await store.get_job("a") == job
    assert await store.get_job("nope") is None


async def test_idempotency_conflicts(store: Store) -> None:
    await store.insert_job(_job("a", key="k"), "d1")
    existing, created = await store.insert_job(_job("b", key="k"), "d1")
    assert not created and existing.id == "a"
    with pytest.raises(Conflict):
        await store.insert_job(_job("c", key="k"), "d2")
    with pytest.raises(Conflict):
        await store.insert_job(_job("a"), "d3")  # same id, no key


async def test_conditional_updates_change_nothing_when_stale(store: Store) -> None:
    await store.insert_job(_job("a"), "d")
    assert await store.update_job("a", {"state": JobState.CANCELLED}, expect_states=(JobState.RUNNING,)) is None
    assert (await store.get_job("a")).state is JobState.QUEUED  # type: ignore[union-attr]
    new = await store.update_job(
        "a",
        {"state": JobState.RUNNING, "progress": Progress(1, 2, 50.0, 3.0, "half")},
        expect_states=(JobState.QUEUED,),
    )
    assert new is not None and new.version == 2 and new.progress.message == "half"
    assert (
        await store.update_job("a", {"state": JobState.FAILED}, expect_states=(JobState.RUNNING,), expect_attempt=7)
        is None
    )


async def test_claims_follow_priority_then_age_and_never_double_lease(store: Store) -> None:
    for i, prio in enumerate([0, 5, 0, 5]):
        await store.insert_job(_job(f"j{i}", priority=prio, offset=i), "d")
    await store.insert_job(_job("other", kind="x"), "d")
    now = dt.datetime.now(UTC)
    first, second = await asyncio.gather(
        store.claim_jobs(["k"], 2, "e1", None, now), store.claim_jobs(["k"], 10, "e2", None, now)
    )
    assert [j.id for j in first] == ["j1", "j3"]
    assert sorted(j.id for j in second) == ["j0", "j2"]
    assert all(j.state is JobState.RUNNING and j.attempt == 1 for j in first + second)
    assert await store.claim_jobs(["k"], 10, "e3", None, now) == []


async def test_jobs_inserted_and_updated_together_fail_alone(store: Store) -> None:
    await store.insert_job(_job("dup"), "d")
    outcomes = await store.insert_jobs(
        [NewJob(_job(f"n{i}"), "d") for i in range(3)]
        + [NewJob(_job("dup", key="x"), "other"), NewJob(_job("n3"), "d")]
    )
    assert [o[1] for o in outcomes if isinstance(o, tuple)] == [True] * 4
    assert isinstance(outcomes[3], Conflict)
    assert [o[0].id for o in outcomes if isinstance(o, tuple)] == ["n0", "n1", "n2", "n3"]
    assert await store.insert_jobs([]) == []
    running = (JobState.RUNNING,)
    updated = await store.update_jobs([
        JobUpdate("n0", {"state": JobState.CANCELLED}, (JobState.QUEUED,)),
        JobUpdate("n1", {"state": JobState.CANCELLED}, running),  # not running: no match
        JobUpdate("missing", {"state": JobState.CANCELLED}, (JobState.QUEUED,)),
        JobUpdate("n2", {"state": JobState.FAILED}, (JobState.QUEUED,), expect_attempt=7),
    ])  # fmt: skip
    assert isinstance(updated[0], JobInfo) and updated[0].state is JobState.CANCELLED and updated[0].version == 2
    assert updated[1] is None and updated[2] is None and updated[3] is None
    assert (await store.get_job("n1")).state is JobState.QUEUED  # type: ignore[union-attr]


async def test_group_commit_isolates_a_failing_write(store: Store) -> None:
    await store.insert_job(_job("dup"), "d")
    results = await asyncio.gather(
        *(store.insert_job(_job(f"g{i}"), "d") for i in range(50)),
        store.insert_job(_job("dup", key="x"), "other"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, tuple) and r[1] for r in results) == 50
    assert isinstance(results[-1], Conflict)  # failed alone, in the same transaction as the others
    page = await store.list_jobs(JobFilter(), after=None, limit=100)
    assert len(page) == 51


async def test_list_pages_and_filters(store: Store) -> None:
    for i in range(5):
        await store.insert_job(_job(f"j{i}", offset=i), "d")
    page = await store.list_jobs(JobFilter(labels={"a": "1"}), after=None, limit=2)
    assert [j.id for j in page] == ["j0", "j1"]
    last = page[-1]
    assert last.created_at is not None
    rest = await store.list_jobs(JobFilter(), after=(last.created_at.timestamp(), last.id), limit=10)
    assert [j.id for j in rest] == ["j2", "j3", "j4"]
    assert await store.list_jobs(JobFilter(labels={"a": "2"}), after=None, limit=10) == []


async def test_logs_and_progress(store_factory: Any) -> None:
    store = store_factory()
    await store.open()
    await store.insert_job(_job("a"), "d")
    now = dt.datetime.now(UTC)
    stored = await store.append_logs([LogRecord("a", 0, now, "INFO", f"m{i}") for i in range(3)])
    assert [r.seq for r in stored] == sorted(r.seq for r in stored) and stored[0].seq > 0
    assert [r.message for r in await store.get_logs("a", stored[0].seq)] == ["m1", "m2"]
    store.record_progress("a", Progress(3, 4, 75.0, None, ""))
    await store.close()  # flushes coalesced progress
    reopened = store_factory()
    await reopened.open()
    job = await reopened.get_job("a")
    assert job is not None and job.progress.steps_done == 3 and job.progress.eta_seconds is None
    await reopened.close()


async def test_a_second_open_migrates_nothing(store_factory: Any) -> None:
    for i in range(2):
        s = store_factory()
        await s.open()
        await s.insert_job(_job(f"j{i}"), "d")
        await s.close()
    s = store_factory()
    await s.open()
    assert len(await s.list_jobs(JobFilter(), after=None, limit=10)) == 2
    await s.close()


async def test_expiry_cache_and_deletion(store: Store) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=UTC)
    done = _job("a").replace(state=JobState.SUCCEEDED, cache_key="ck", finished_at=now,
                             expires_at=now + dt.timedelta(hours=1), result_inline=b"r")  # fmt: skip
    await store.insert_job(done, "d")
    await store.insert_job(_job("b").replace(state=JobState.RUNNING), "d")
    assert (await store.find_cached("k", "", "ck", now)) == done
    assert await store.find_cached("k", "", "ck", now + dt.timedelta(hours=2)) is None
    assert [j.id for j in await store.running_jobs()] == ["b"]
    assert await store.next_expiry() == now + dt.timedelta(hours=1)
    assert [j.id for j in await store.expiring_jobs(now + dt.timedelta(hours=2), 10)] == ["a"]
    await store.append_logs([LogRecord("a", 0, now, "INFO", "x")])
    await store.delete_job("a")
    assert await store.get_job("a") is None and await store.get_logs("a") == []


async def test_documents(store: Store) -> None:
    from asyncwf.exceptions import AlreadyExists
    from asyncwf.server.store._store import Document

    now = dt.datetime(2026, 1, 1, tzinfo=UTC)
    doc = Document("workflow", "w1", "name", {"a": 1}, ("me",), ("*",), (), now, now, 1)
    await store.insert_document(doc)
    with pytest.raises(AlreadyExists):
        await store.insert_document(doc)
    assert await store.get_document("workflow", "w1") == doc
    changed = Document("workflow", "w1", "renamed", {"a": 2}, ("me",), (), (), now, now, 1)
    updated = await store.update_document(changed, 1)
    assert updated is not None and updated.version == 2 and updated.name == "renamed"
    assert await store.update_document(changed, 1) is None  # stale
    assert [d.id for d in await store.list_documents("workflow", name_prefix="ren", limit=10)] == ["w1"]
    assert await store.list_documents("workflow", name_prefix="x", limit=10) == []


async def test_entities(store: Store) -> None:
    from asyncwf.exceptions import AlreadyExists, Conflict, NotFound

    project = await store.insert_entity("project", {"name": "p"})
    workflow = await store.insert_entity("workflow", {"project_serial": project["serial"], "name": "w"})
    tasks = await asyncio.gather(*(store.insert_entity("task", {"workflow_serial": 1, "spawn_key": f"k{i}"},
                                                       guard=("workflow", 1, 0)) for i in range(10)))  # fmt: skip
    assert sorted(t["serial"] for t in tasks) == list(range(1, 11))
    assert (await store.get_entity("workflow", 1))["occ_lock_version"] == 11  # type: ignore[index]
    with pytest.raises(AlreadyExists):
        await store.insert_entity("task", {"workflow_serial": 1, "spawn_key": "k0"})
    assert [t["spawn_key"] for t in await store.list_entities("task", parent=1, name="k3")] == ["k3"]
    assert await store.get_entity_by_uuid(workflow["uuid"]) == ("workflow", await store.get_entity("workflow", 1))
    job = await store.insert_entity("job", {"task_serial": 1, "workflow_serial": 1, "state": "Queued"})
    assert [j["serial"] for j in await store.list_entities("job", state="Queued")] == [job["serial"]]
    assert await store.list_entities("job", state="Done") == []
    old, new = await store.update_entity("job", 1, lambda o: {"state": "Done"}, expected_version=1)
    assert old["state"] == "Queued" and new["state"] == "Done" and new["occ_lock_version"] == 2
    with pytest.raises(Conflict):
        await store.update_entity("job", 1, lambda o: {"state": "Failed"}, expected_version=1)
    _, quiet = await store.update_entity("job", 1, lambda o: {"sort_order": "1"}, expected_version=2, bump=False)
    assert quiet["occ_lock_version"] == 2
    with pytest.raises(Conflict):  # the guard (the workflow) is stale: nothing changes
        await store.update_entity("task", 1, lambda o: {"name": "x"}, expected_version=1, guard=("workflow", 1, 3))
    assert (await store.get_entity("task", 1))["occ_lock_version"] == 1  # type: ignore[index]
    with pytest.raises(NotFound):
        await store.update_entity("job", 99, lambda o: {}, expected_version=1)
    results = await asyncio.gather(*(store.update_entity("job", 1, lambda o, i=i: {"sort_order": str(i)},
                                                         expected_version=2) for i in range(8)),
                                   return_exceptions=True)  # fmt: skip
    assert sum(isinstance(r, tuple) for r in results) == 1


async def test_concurrent_writes_apply_in_order(store: Store) -> None:
    """Writes sent together are applied as if one by one, in the order they were sent (group commit)."""
    await asyncio.gather(*(store.insert_job(_job(f"o{i}"), "d") for i in range(20)))
    first, second = await asyncio.gather(
        store.update_job("o1", {"state": JobState.RUNNING}, expect_states=(JobState.QUEUED,)),
        store.update_job("o1", {"state": JobState.CANCELLED}, expect_states=(JobState.RUNNING,)),
    )
    assert first is not None and second is not None and second.state is JobState.CANCELLED and second.version == 3
    results = await asyncio.gather(*(store.update_job(f"o{i}", {"attempt": i}, expect_states=(JobState.QUEUED,),
                                                      expect_attempt=0) for i in range(2, 20)))  # fmt: skip
    assert [r.attempt for r in results if r is not None] == list(range(2, 20))
    again = await asyncio.gather(*(store.insert_job(_job(f"o{i}"), "d") for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, Conflict) for r in again)  # ids already taken


async def test_a_bad_write_fails_alone_among_writes_sent_with_it(store: Store) -> None:
    await asyncio.gather(*(store.insert_job(_job(f"b{i}"), "d") for i in range(10)))
    results = await asyncio.gather(
        *(store.update_job(f"b{i}", {"attempt": i}, expect_states=(JobState.QUEUED,)) for i in range(9)),
        store.update_job("b9", {"attempt": 2**40}, expect_states=(JobState.QUEUED,)),  # too big for PostgreSQL
        return_exceptions=True,
    )
    assert [r.attempt for r in results[:9]] == list(range(9))  # type: ignore[union-attr]
    from asyncwf.exceptions import InvalidArgument

    assert isinstance(results[9], InvalidArgument) or results[9].attempt == 2**40  # type: ignore[union-attr]


async def test_postgresql_unreachable_or_misnamed() -> None:
    from asyncwf.exceptions import ConfigurationError, Unavailable

    with pytest.raises(Unavailable, match="cannot reach PostgreSQL"):
        await PostgresStore("postgresql://postgres@127.0.0.1:1/none").open()
    with pytest.raises(ConfigurationError):
        PostgresStore("mysql://localhost/x")


async def test_a_finishing_update_reads_back_everything_but_the_payload(store: Store) -> None:
    job = _job("p1")
    job.payload = b"p" * 300_000
    await store.insert_job(job, "d")
    running = await store.update_job("p1", {"state": JobState.RUNNING, "attempt": 1}, expect_states=(JobState.QUEUED,))
    assert running is not None and running.payload == job.payload  # a job still to run keeps it
    done = await store.update_job(
        "p1", {"state": JobState.SUCCEEDED, "result_inline": b"7", "result_size": 1}, expect_states=(JobState.RUNNING,)
    )
    assert done is not None and done.state is JobState.SUCCEEDED and done.version == 3
    assert done.payload == b"" and done.result_inline == b"7" and done.labels == {"a": "1"}
    stored = await store.get_job("p1")
    assert stored is not None and stored.payload == job.payload


async def test_an_insert_can_take_a_cached_result_in_the_same_trip(store: Store) -> None:
    now = dt.datetime.now(UTC)
    done = _job("c1")
    done.state, done.cache_key, done.finished_at, done.result_inline = JobState.SUCCEEDED, "ck", now, b"7"
    await store.insert_job(done, "d")

    def from_cache(cached: JobInfo) -> JobInfo:
        return fresh.replace(state=JobState.SUCCEEDED, cached_from=cached.id, result_inline=cached.result_inline)

    fresh = _job("c2")
    fresh.cache_key, fresh.created_at = "ck", now
    stored, created = await store.insert_job(fresh, "d", from_cache=from_cache)
    assert created and stored.id == "c2" and stored.cached_from == "c1" and stored.result_inline == b"7"
    again = await store.get_job("c2")
    assert again is not None and again.cached_from == "c1" and again.state is JobState.SUCCEEDED
    other = _job("c3")
    other.cache_key, other.created_at = "another", now
    stored, created = await store.insert_job(other, "d", from_cache=from_cache)
    assert created and stored.state is JobState.QUEUED and not stored.cached_from  # no match: inserted as given


async def test_served_kind_announcements_hold_for_a_while_then_lapse(tmp_path: Path) -> None:
    """What replicas tell each other about the kinds their executors serve (through any store)."""
    from asyncwf.server.engine._served import SharedServedKinds

    store = SQLiteStore(tmp_path / "kinds.db")
    await store.open()
    served = {"k.one", "k.two"}
    here = SharedServedKinds(store, lambda: served, every=0.1, hold=0.6, reread=0.05)
    there = SharedServedKinds(store, lambda: (), every=0.1, hold=0.6, reread=0.05)
    here.start()
    there.start()
    try:
        await eventually(lambda: there.serves("k.one"))
        assert await there.serves("k.two") and not await there.serves("k.three")
        served.discard("k.two")  # its executor left: no longer renewed, it lapses after `hold`
        await eventually(lambda: _not(there.serves("k.two")))
        assert await there.serves("k.one")
        await here.stop()  # the replica died: everything it announced lapses
        await eventually(lambda: _not(there.serves("k.one")))
    finally:
        await here.stop()
        await there.stop()
        await store.close()


async def _not(served: Any) -> bool:
    return not await served
