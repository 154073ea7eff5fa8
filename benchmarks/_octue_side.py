"""The Octue SDK 0.69.1 side of bench_data, run inside its own virtualenv (it must not import asyncwf).

Usage: python _octue_side.py WORKDIR BUCKET QUICK -> prints one JSON object of timings (seconds).

The emulator needs no credentials, but the Octue SDK calls ``google.auth.default()``
first: it is given anonymous credentials (the only change made to it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import google.auth
import google.auth.credentials

google.auth.default = lambda *a, **k: (google.auth.credentials.AnonymousCredentials(), "test")

import octue.cloud.storage.client as storage_client  # noqa: E402
from octue.resources import Datafile, Dataset  # noqa: E402

storage_client.auth.default = google.auth.default


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _transfer_round(work: Path, bucket: str, run: int) -> dict[str, float]:
    """Seconds to upload and download the small files and the large one through the Octue SDK."""
    times: dict[str, float] = {}
    for size in ("small", "large"):
        start = time.perf_counter()
        Dataset(path=str(work / size)).upload(f"gs://{bucket}/octue-{size}-{run}")
        times[f"upload_{size}"] = time.perf_counter() - start
        cloud = Dataset(path=f"gs://{bucket}/octue-{size}-{run}")
        start = time.perf_counter()
        cloud.download(str(work / f"octue-{size}-out-{run}"))
        times[f"download_{size}"] = time.perf_counter() - start
    return times


def main() -> None:
    work, bucket, quick = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
    out: dict[str, float] = {}
    meta = work / "octue-meta"
    meta.mkdir()
    count = 200 if quick else 1000
    for i in range(count):
        (meta / f"f{i:04}.dat").write_bytes(b"x" * 1024)

    def write_metadata() -> None:
        dataset = Dataset(path=str(meta))
        for datafile in dataset.files:
            datafile.labels.add("raw")
            datafile.update_local_metadata()

    out["write_metadata"] = timed(write_metadata)
    out["open_dataset"] = timed(lambda: Dataset(path=str(meta)))
    out["metadata_files"] = count
    out["hash"] = timed(lambda: Datafile(str(work / "hash.bin")).hash_value)
    rounds = [_transfer_round(work, bucket, run) for run in range(3)]  # best of 3, as for the others
    for key in rounds[0]:
        out[key] = min(r[key] for r in rounds)
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)  # the SDK leaves threads behind


if __name__ == "__main__":
    main()
