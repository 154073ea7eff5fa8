"""The SQLite store: schema, conditional updates, claims, group commit."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncwf import JobInfo, JobState, LogRecord, Progress
from asyncwf.exceptions import Conflict
from asyncwf.server import JobFilter, SQLiteStore

UTC = dt.UTC


def _job(job_id: str, kind: str = "k", priority: int = 0, key: str = "", offset: float = 0.0) -> JobInfo:
    now = dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=offset)
    return JobInfo(
        id=job_id, kind=kind, state=JobState.QUEUED, version=1, idempotency_key=key, priority=priority,
        created_at=now, updated_at=now, labels={"a": "1"},
    )  # fmt: skip


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "db.sqlite3")
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
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 2
    with pytest.raises(ValueError):
        SQLiteStore(path, synchronous="sometimes")


async def test_round_trip_of_every_field(store: SQLiteStore) -> None:
    job = _job("a", key="k1")
    stored, created = await store.insert_job(job, "digest")
    assert created and stored == job
    assert await store.get_job("a") == job
    assert await store.get_job("nope") is None


async def test_idempotency_conflicts(store: SQLiteStore) -> None:
    await store.insert_job(_job("a", key="k"), "d1")
    existing, created = await store.insert_job(_job("b", key="k"), "d1")
    assert not created and existing.id == "a"
    with pytest.raises(Conflict):
        await store.insert_job(_job("c", key="k"), "d2")
    with pytest.raises(Conflict):
        await store.insert_job(_job("a"), "d3")  # same id, no key


async def test_conditional_updates_change_nothing_when_stale(store: SQLiteStore) -> None:
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


async def test_claims_follow_priority_then_age_and_never_double_lease(store: SQLiteStore) -> None:
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


async def test_group_commit_isolates_a_failing_write(store: SQLiteStore) -> None:
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


async def test_list_pages_and_filters(store: SQLiteStore) -> None:
    for i in range(5):
        await store.insert_job(_job(f"j{i}", offset=i), "d")
    page = await store.list_jobs(JobFilter(labels={"a": "1"}), after=None, limit=2)
    assert [j.id for j in page] == ["j0", "j1"]
    last = page[-1]
    assert last.created_at is not None
    rest = await store.list_jobs(JobFilter(), after=(last.created_at.timestamp(), last.id), limit=10)
    assert [j.id for j in rest] == ["j2", "j3", "j4"]
    assert await store.list_jobs(JobFilter(labels={"a": "2"}), after=None, limit=10) == []


async def test_logs_and_progress(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite3")
    await store.open()
    await store.insert_job(_job("a"), "d")
    now = dt.datetime.now(UTC)
    stored = await store.append_logs([LogRecord("a", 0, now, "INFO", f"m{i}") for i in range(3)])
    assert [r.seq for r in stored] == sorted(r.seq for r in stored) and stored[0].seq > 0
    assert [r.message for r in await store.get_logs("a", stored[0].seq)] == ["m1", "m2"]
    store.record_progress("a", Progress(3, 4, 75.0, None, ""))
    await store.close()  # flushes coalesced progress
    reopened = SQLiteStore(tmp_path / "db.sqlite3")
    await reopened.open()
    job = await reopened.get_job("a")
    assert job is not None and job.progress.steps_done == 3 and job.progress.eta_seconds is None
    await reopened.close()
