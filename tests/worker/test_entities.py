"""XF entities, optimistic concurrency, sequences and the file service's tokens, against the real backend."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import anyio
import pytest

from asyncwf.exceptions import AlreadyExists, Conflict, InvalidArgument, NotFound, PermissionDenied
from asyncwf.testing import LocalBackend
from asyncwf.worker import (
    Connection,
    create_activity_log_event,
    create_parameter,
    create_xf_job,
    create_xf_task,
    get_parameter_file_references,
    get_parameter_file_token,
    get_xf_combined_query,
    get_xf_db_entity_by_uuid,
    get_xf_job,
    get_xf_job_result_token,
    get_xf_jobs_by_task,
    get_xf_jobs_by_workflow,
    get_xf_parameter_float_sequence,
    get_xf_parameter_paired_float_sequences,
    get_xf_parameter_sequence,
    get_xf_project,
    get_xf_projects,
    get_xf_task,
    get_xf_task_type,
    get_xf_task_types,
    get_xf_tasks_by_workflow,
    get_xf_userdata_token,
    get_xf_workflow,
    get_xf_workflow_run,
    get_xf_workflows_by_project,
    update_xf_job,
    update_xf_project,
    update_xf_task,
    update_xf_workflow,
)
from asyncwf.worker._transfer import area_url, download, locate, upload, userdata_url
from tests.worker.conftest import XF, make_xf


async def test_entities_queries(xf: XF) -> None:
    conn = xf.conn
    assert [p["name"] for p in await get_xf_projects(conn)] == ["bones"]
    assert (await get_xf_project(conn, str(xf.project["serial"])))["uuid"] == xf.project["uuid"]
    assert [w["serial"] for w in await get_xf_workflows_by_project(conn, xf.project["serial"])] == [1]
    assert (await get_xf_workflow(conn, 1))["name"] == "density"
    assert [t["name"] for t in await get_xf_tasks_by_workflow(conn, 1)] == ["input", "summarize", "failing", "blocking"]
    assert (await get_xf_task_type(conn, xf.task_types["summarize"]["serial"]))["version"] == "1.2.0"
    assert len(await get_xf_task_types(conn)) == 4
    job = await create_xf_job(conn, {"task_serial": xf.tasks["input"]["serial"], "state": "Done",
                                     "outputs": {"n": 1}})  # fmt: skip
    assert job["serial"] == 1 and job["workflow_serial"] == 1 and job["engine_job_id"] == ""
    assert job["task_type_serial"] == xf.task_types["input"]["serial"] and job["occ_lock_version"] == 1
    assert [j["serial"] for j in await get_xf_jobs_by_task(conn, xf.tasks["input"]["serial"])] == [1]
    assert [j["serial"] for j in await get_xf_jobs_by_workflow(conn, 1)] == [1]
    found = await get_xf_db_entity_by_uuid(conn, job["uuid"])
    assert found["entity_type"] == "job" and found["serial"] == 1
    combined = await get_xf_combined_query(conn, project_serial=1, job_serial=1, task_types="all", tasks="1,3")
    assert combined["project"]["name"] == "bones" and combined["job"]["serial"] == 1
    assert len(combined["task_types"]) == 4 and [t["serial"] for t in combined["tasks"]] == [1, 3]
    with pytest.raises(NotFound):
        await get_xf_workflow_run(conn, 1)
    run = await conn.create("workflow_run", {"workflow_serial": 1})
    assert (await get_xf_workflow_run(conn, 1))["serial"] == run["serial"]
    with pytest.raises(NotFound):
        await get_xf_job(conn, 99)
    with pytest.raises(InvalidArgument):
        await get_xf_job(conn, "one")
    with pytest.raises(InvalidArgument):
        await get_xf_combined_query(conn, jobs="some")


async def test_bad_entities_are_refused_and_change_nothing(xf: XF) -> None:
    conn = xf.conn
    task = xf.tasks["summarize"]["serial"]
    for fields, error in [
        ({"task_serial": task, "colour": "red"}, InvalidArgument),
        ({"task_serial": task, "state": "Sleeping"}, InvalidArgument),
        ({"task_serial": task, "inputs": []}, InvalidArgument),
        ({"task_serial": 404}, NotFound),
        ({}, InvalidArgument),
        ({"task_serial": task, "engine_job_id": "x"}, InvalidArgument),
    ]:
        with pytest.raises(error):
            await create_xf_job(conn, fields)
    with pytest.raises(InvalidArgument, match="version"):
        await conn.create("task_type", {"name": "x", "version": "one"})
    with pytest.raises(InvalidArgument, match="package name"):
        await conn.create("task_type", {"name": "../x", "version": "1"})
    with pytest.raises(InvalidArgument):
        await create_xf_job(conn, {"task_serial": task, "metadata": {"x": float("nan")}})
    assert await get_xf_jobs_by_workflow(conn, 1) == []


async def test_stale_occ_lock_version_is_a_conflict_and_changes_nothing(xf: XF) -> None:
    conn = xf.conn
    project = xf.project
    renamed = await update_xf_project(conn, project, name="skulls")
    assert renamed["occ_lock_version"] == 2 and renamed["name"] == "skulls"
    with pytest.raises(Conflict, match="occ_lock_version 2, not 1"):
        await update_xf_project(conn, project, name="ribs")
    assert (await get_xf_project(conn, 1))["name"] == "skulls"

    job = await create_xf_job(conn, {"task_serial": xf.tasks["input"]["serial"], "state": "Done"})
    quiet = await update_xf_job(conn, job, bump_occ_lock_version=False, metadata={"note": "a"})
    assert quiet["occ_lock_version"] == job["occ_lock_version"]
    bumped = await update_xf_job(conn, quiet, metadata={"note": "b"})
    with pytest.raises(Conflict):
        await update_xf_job(conn, quiet, metadata={"note": "stale"})
    assert (await get_xf_job(conn, job["serial"]))["metadata"] == {"note": "b"} == bumped["metadata"]
    with pytest.raises(InvalidArgument, match="set by the backend"):
        await update_xf_job(conn, bumped, workflow_serial=7)

    # a task update checks (and bumps) its workflow's version too
    workflow = await get_xf_workflow(conn, 1)
    task = await get_xf_task(conn, xf.tasks["failing"]["serial"])
    with pytest.raises(Conflict):
        await update_xf_task(conn, task, workflow["occ_lock_version"] - 1, name="stale")
    assert (await get_xf_task(conn, task["serial"]))["name"] == "failing"
    moved = await update_xf_task(conn, task, workflow["occ_lock_version"], name="fails")
    assert moved["name"] == "fails"
    assert (await get_xf_workflow(conn, 1))["occ_lock_version"] == workflow["occ_lock_version"] + 1
    with pytest.raises(Conflict):
        await update_xf_workflow(conn, workflow, name="old view")
    # spawn keys are unique per workflow
    await create_xf_task(conn, {"workflow_serial": 1, "task_type_serial": 1, "spawn_key": "k"})
    with pytest.raises(AlreadyExists):
        await create_xf_task(conn, {"workflow_serial": 1, "task_type_serial": 1, "spawn_key": "k"})


async def test_concurrent_updates_one_wins(xf: XF) -> None:
    job = await create_xf_job(xf.conn, {"task_serial": xf.tasks["input"]["serial"], "state": "Done"})
    results = await asyncio.gather(*(update_xf_job(xf.conn, job, sort_order=str(i)) for i in range(10)),
                                   return_exceptions=True)  # fmt: skip
    winners = [r for r in results if isinstance(r, dict)]
    assert len(winners) == 1 and all(isinstance(r, Conflict) for r in results if not isinstance(r, dict))
    assert (await get_xf_job(xf.conn, job["serial"]))["sort_order"] == winners[0]["sort_order"]


async def test_sequences(xf: XF) -> None:
    conn = xf.conn
    first, second = xf.tasks["summarize"]["serial"], xf.tasks["failing"]["serial"]
    for order, value in [("0003", 3.5), ("0001", 1.0), ("0002", {"type": "Float", "value": 2})]:
        await create_xf_job(conn, {"task_serial": first, "state": "Done", "sort_order": order,
                                   "outputs": {"total": value}})  # fmt: skip
    await create_xf_job(conn, {"task_serial": first, "state": "Failed", "sort_order": "0004",
                               "outputs": {"total": 9}})  # fmt: skip
    for order, value in [("0002", 20), ("0003", 30), ("0009", 90)]:
        await create_xf_job(conn, {"task_serial": second, "state": "Done", "sort_order": order,
                                   "outputs": {"y": value}})  # fmt: skip
    seq1 = {"type": "Sequence", "task_serial": first, "output": "total"}
    seq2 = {"type": "Sequence", "task_serial": second, "output": "y"}
    assert await get_xf_parameter_sequence(conn, seq1) == [1.0, {"type": "Float", "value": 2}, 3.5]
    assert await get_xf_parameter_float_sequence(conn, seq1) == [1.0, 2.0, 3.5]
    assert await get_xf_parameter_paired_float_sequences(conn, seq1, seq2) == ([2.0, 3.5], [20.0, 30.0])
    with pytest.raises(InvalidArgument):
        await get_xf_parameter_sequence(conn, {"type": "CSV", "filename": "x"})
    with pytest.raises(InvalidArgument):
        await get_xf_parameter_float_sequence(conn, {"type": "Sequence", "task_serial": second})
    assert await get_xf_parameter_sequence(conn, {"type": "Sequence", "task_serial": second, "output": "nope"}) == []
    await create_xf_job(conn, {"task_serial": second, "state": "Done", "outputs": {"y": "text"}})
    with pytest.raises(InvalidArgument, match="not a float"):
        await get_xf_parameter_float_sequence(conn, seq2)


async def test_activity_log(xf: XF) -> None:
    job = await create_xf_job(xf.conn, {"task_serial": xf.tasks["input"]["serial"], "state": "Done"})
    event = await create_activity_log_event(xf.conn, "hello", job_serial=job["serial"], payload={"a": 1})
    assert event["workflow_serial"] == 1 and event["level"] == "INFO" and event["source"] == "XamFlowTaskType"
    assert [e["title"] for e in await xf.conn.list("activity", parent=job["serial"])] == ["hello"]
    with pytest.raises(InvalidArgument):
        await create_activity_log_event(xf.conn, "")


async def test_parameters() -> None:
    extra = [{"filename": "a.txt"}, {"virtualpath": "@xfuserdata/x/y.txt"}]
    image = create_parameter("Image", filename="a.aim", job_serial=4, filenames=["a.raw"], additional_files=extra)
    assert get_parameter_file_references(image) == [
        {"filename": "a.aim", "job_serial": 4}, {"filename": "a.raw", "job_serial": 4},
        {"filename": "a.txt", "job_serial": 4}, {"virtualpath": "@xfuserdata/x/y.txt"},
    ]  # fmt: skip
    assert len(get_parameter_file_references(image, only_additional=True)) == 3
    for bad in [{"type": "CSV", "filename": "../etc/passwd", "job_serial": 1},
                {"type": "CSV", "filename": "/etc/passwd", "job_serial": 1},
                {"type": "CSV", "filename": "x.csv"},
                {"type": "File", "virtualpath": "@xfuserdata/../secret"},
                {"type": "File", "virtualpath": "/etc/passwd"}, {"filename": "x"}]:  # fmt: skip
        with pytest.raises(InvalidArgument):
            get_parameter_file_references(bad)
    with pytest.raises(InvalidArgument):
        create_parameter("")


async def test_file_tokens_are_scoped(xf: XF, tmp_path: Path) -> None:
    conn = xf.conn
    param = await xf.input_file("numbers.csv", "1\n2\n")
    other = await xf.input_file("secret.csv", "42\n")
    token = await get_parameter_file_token(conn, param)
    got = await download(conn, token, area_url(token, "job-result", param["job_serial"], "numbers.csv"),
                         tmp_path / "n.csv")  # fmt: skip
    assert await anyio.Path(got).read_text() == "1\n2\n"
    # the same token cannot read another job's files, nor other files of its job, nor write
    with pytest.raises(PermissionDenied, match="not for job-result"):
        await download(conn, token, area_url(token, "job-result", other["job_serial"], "secret.csv"), tmp_path / "s")
    with pytest.raises(PermissionDenied, match="does not cover"):
        await download(conn, token, area_url(token, "job-result", param["job_serial"], "other.csv"), tmp_path / "o")
    with pytest.raises(PermissionDenied, match="read-only"):
        await upload(conn, token, area_url(token, "job-result", param["job_serial"], "numbers.csv"), got)
    assert not await anyio.Path(tmp_path / "s").exists()
    # expired and forged tokens
    short = await conn.file_token("job-result", param["job_serial"], expires_in=1)
    await asyncio.sleep(1.2)
    with pytest.raises(PermissionDenied, match="expired"):
        await locate(conn, short, area_url(short, "job-result", param["job_serial"], "numbers.csv"))
    # (the MAC is hex: its last digit changed, never to itself)
    forged_mac = token.token[:-1] + ("1" if token.token.endswith("0") else "0")
    forged = type(token)(forged_mac, token.expires_at, token.url)
    with pytest.raises(PermissionDenied):
        await locate(conn, forged, area_url(forged, "job-result", param["job_serial"], "numbers.csv"))
    # traversal through the raw HTTP API is refused too
    async with aiohttp.ClientSession() as http:
        for path in [f"/v1/xf/files/job-result/{param['job_serial']}/..%2F..%2Ffiles.key",
                     f"/v1/xf/files/job-result/{param['job_serial']}/%2Fetc%2Fpasswd",
                     "/v1/xf/userdata/a/../../files.key"]:  # fmt: skip
            async with http.get(token.url + path, headers=token.headers) as response:
                assert response.status in (400, 403, 404), path
    with pytest.raises(InvalidArgument):
        await get_xf_job_result_token(conn, param["job_serial"], "../x")
    with pytest.raises(NotFound):
        await get_xf_job_result_token(conn, 999)
    with pytest.raises(InvalidArgument):
        await conn.file_token("job-secrets", 1)


async def test_userdata(xf: XF, tmp_path: Path) -> None:
    conn = xf.conn
    source = tmp_path / "notes.txt"
    await anyio.Path(source).write_text("shared notes")
    writer = await get_xf_userdata_token(conn, [("@xfuserdata/team/", "rw")])
    await upload(conn, writer, userdata_url(writer, "@xfuserdata/team/notes.txt"), source)
    reader = await get_xf_userdata_token(conn, [("@xfuserdata/team/notes.txt", "r")])
    got = await download(conn, reader, userdata_url(reader, "@xfuserdata/team/notes.txt"), tmp_path / "copy.txt")
    assert await anyio.Path(got).read_text() == "shared notes"
    with pytest.raises(PermissionDenied):
        await upload(conn, reader, userdata_url(reader, "@xfuserdata/team/notes.txt"), source)
    with pytest.raises(PermissionDenied):
        await download(conn, writer, userdata_url(writer, "@xfuserdata/other/x.txt"), tmp_path / "x")
    for scopes in ([("@xfuserdata/../x", "r")], [("/etc/", "r")], [("@xfuserdata/a", "rwx")], []):
        with pytest.raises(InvalidArgument):
            await get_xf_userdata_token(conn, scopes)


async def test_upload_is_atomic_and_streamed(xf: XF, tmp_path: Path) -> None:
    """A body cut off half-way leaves the previous file in place."""
    param = await xf.input_file("numbers.csv", "1\n")
    token = await get_xf_job_result_token(xf.conn, param["job_serial"], write=True)
    url = area_url(token, "job-result", param["job_serial"], "numbers.csv")

    async def short_body():  # type: ignore[no-untyped-def]
        yield b"x" * 1000
        raise ConnectionResetError

    async with aiohttp.ClientSession() as http:
        with pytest.raises((aiohttp.ClientError, ConnectionResetError)):
            async with http.put(url, data=short_body(), headers={**token.headers, "Content-Length": "5000"}):
                pass
    await asyncio.sleep(0.1)
    got = await download(xf.conn, token, url, tmp_path / "after.csv")
    assert await anyio.Path(got).read_text() == "1\n"
    _ = time


async def test_a_queued_job_without_engine_job_is_queued_at_start(tmp_path: Path) -> None:
    """A crash between storing a Queued XF job and creating its engine job loses nothing."""
    from asyncwf.testing import LocalBackend
    from asyncwf.worker import Connection
    from tests.worker.conftest import make_xf

    async with LocalBackend(data_dir=tmp_path) as backend:
        assert backend.backend is not None
        async with backend.client() as client, Connection(client) as conn:
            xf = await make_xf(backend, conn)
            task = xf.tasks["summarize"]
            orphan = await backend.backend.store.insert_entity(
                "job", {"task_serial": task["serial"], "workflow_serial": 1, "task_type_serial":
                        task["task_type_serial"], "state": "Queued", "engine_job_id": "", "metadata": {}},
            )  # fmt: skip
    async with LocalBackend(data_dir=tmp_path) as backend, backend.client() as client, Connection(client) as conn:
        recovered = await get_xf_job(conn, orphan["serial"])
        assert recovered["engine_job_id"]
        engine_job = await client.get_job(recovered["engine_job_id"])
        assert engine_job.kind == "xf:summarize" and engine_job.state.name == "QUEUED"


async def test_worker_refuses_bad_configuration(xf: XF, tmp_path: Path) -> None:
    from asyncwf.exceptions import ConfigurationError
    from asyncwf.worker import Worker

    with pytest.raises(ConfigurationError):
        Worker(xf.conn.client, {})
    with pytest.raises(ConfigurationError):
        Worker(xf.conn.client, {"x": tmp_path / "x.py"}, timeout=0)
    with pytest.raises(ConfigurationError):
        Worker(xf.conn.client, {"x": 5})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="does not exist"):
        async with Worker(xf.conn.client, {"x": tmp_path / "missing.py"}, work_dir=tmp_path):
            pass


def test_the_blocking_module_functions() -> None:
    """``asyncwf.blocking.worker``: the same calls without await, ``with connect(...)`` included."""
    import asyncwf.blocking as bwf
    import asyncwf.blocking.worker as bw

    with bwf.LocalBackend() as backend, bw.connect("127.0.0.1", backend.port) as conn:
        project = conn.create("project", {"name": "sync"})
        assert bw.get_xf_project(conn, project["serial"])["name"] == "sync"
        renamed = bw.update_xf_project(conn, project, name="still sync")
        with pytest.raises(Conflict):
            bw.update_xf_project(conn, project, name="stale")
        assert [p["name"] for p in bw.get_xf_projects(conn)] == [renamed["name"]]


async def test_xf_jobs_follow_their_engine_jobs_owner() -> None:
    tokens = {"t-alice": "alice", "t-bob": "bob"}
    async with LocalBackend(tokens=tokens) as backend, backend.client(token="t-alice") as alice_client, \
            backend.client(token="t-bob") as bob_client, Connection(alice_client) as alice, \
            Connection(bob_client) as bob:  # fmt: skip
        xf = await make_xf(backend, alice)
        job = await create_xf_job(alice, {"task_serial": xf.tasks["blocking"]["serial"], "state": "Queued"})
        assert job["engine_job_id"]
        with pytest.raises(PermissionDenied, match="another identity"):
            await update_xf_job(bob, job, state="Cancelled")
        with pytest.raises(PermissionDenied, match="another identity"):
            await get_xf_job_result_token(bob, job["serial"], "stolen.txt")
        assert (await alice_client.get_job(job["engine_job_id"])).state.name != "CANCELLED"
        cancelled = await update_xf_job(alice, job, state="Cancelled")
        assert cancelled["state"] == "Cancelled"
        assert (await get_xf_job_result_token(alice, job["serial"], "mine.txt")).token
        done_job = await create_xf_job(alice, {"task_serial": xf.tasks["blocking"]["serial"], "state": "Done"})
        assert done_job["owner"] == "alice" and not done_job["engine_job_id"]
        with pytest.raises(PermissionDenied, match="another identity"):  # bob cannot requeue (take) alice's job
            await update_xf_job(bob, done_job, state="Queued")
        with pytest.raises(InvalidArgument, match="set by the backend"):
            await create_xf_job(bob, {"task_serial": xf.tasks["blocking"]["serial"], "owner": "alice"})
