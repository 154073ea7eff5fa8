"""The Octue SDK 0.69.1 side of bench_services, in its own virtualenv (it must not import asyncwf).

Usage: python _octue_services_side.py -> one JSON object of timings (seconds).
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from octue.twined.cloud.emulators.child import ChildEmulator
from octue.twined.runner import Runner

ATTRIBUTES = {
    "uuid": "a9de11b1-e88f-43fa-b3a4-40a590c3443f",
    "retry_count": 0,
    "question_uuid": "d45c7e99-d610-413b-8130-dd6eef46dda6",
    "parent_question_uuid": "5776ad74-52a6-46f7-a526-90421d91b8b2",
    "originator_question_uuid": "86dc55b2-4282-42bd-92d0-bd4991ae7356",
    "parent": "bench/parent:1.0.0",
    "originator": "bench/parent:1.0.0",
    "sender": "bench/child:1.0.0",
    "sender_type": "CHILD",
    "sender_sdk_version": "0.69.1",
    "recipient": "bench/parent:1.0.0",
}
EVENTS = [{"event": {"kind": "result", "output_values": 1, "output_manifest": None}, "attributes": ATTRIBUTES}]


def main() -> None:
    out: dict[str, float] = {}
    child = ChildEmulator(events=EVENTS)
    child.ask(input_values={"x": 0})
    # ChildEmulator has no ask_multiple: the parent's ask_multiple runs asks in a thread pool like this.
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 1) + 4)) as pool:
            list(pool.map(lambda i: child.ask(input_values={"x": i}), range(1000)))
        best = min(best, time.perf_counter() - start)
    out["emulator_ask_multiple_1000"] = best

    def app(analysis):  # type: ignore[no-untyped-def]
        analysis.output_values = {"x": analysis.input_values["x"] + 1}

    runner = Runner(app_src=app, twine={"input_values_schema": {"type": "object"},
                                        "output_values_schema": {"type": "object"}})  # fmt: skip
    runner.run(input_values={"x": 0})
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for i in range(200):
            runner.run(input_values={"x": i})
        best = min(best, (time.perf_counter() - start) / 200)
    out["runner_run"] = best
    print(json.dumps(out))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
