"""Ids and UUIDs: well formed, unique, and different in a forked child."""

from __future__ import annotations

import os
import uuid

import pytest

from asyncwf._ids import new_id, new_uuid


def test_uuids_are_version_4_and_ids_sort_by_time() -> None:
    made = [new_uuid() for _ in range(2000)]
    assert len(set(made)) == len(made)
    for text in made[:200]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(len(i) == 32 for i in ids)
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_other_ids_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next id and uuid, then leave at once
        os.write(write, f"{new_id()} {new_uuid()}".encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 200).decode().split()
    os.close(read)
    os.waitpid(pid, 0)
    mine = [new_id(), new_uuid()]
    assert child[0][12:] != mine[0][12:] and child[1] != mine[1]
