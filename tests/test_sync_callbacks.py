"""Plain-function callbacks given to the blocking API: they get blocking objects, in order, and may call the
blocking API themselves (they run in a worker thread of the loop, never on it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

import asyncwf.blocking as bwf
import asyncwf.blocking.workflows as wf
from asyncwf.blocking.services import ChildEmulator


@pytest.mark.allow_blocking
def test_monitor_message_callbacks_run_in_order_off_the_loop_and_may_block() -> None:
    seen: list[Any] = []
    threads: set[str] = set()

    def handle(data: Any) -> None:
        threads.add(threading.current_thread().name)
        seen.append((data, wf.Int(data).compute(client=client) * 10))  # a blocking call inside the callback

    events = [{"kind": "monitor_message", "data": i} for i in range(20)] + [{"kind": "result", "output_values": 1}]
    with bwf.LocalBackend() as backend, backend.client() as client:
        answer = ChildEmulator(events=events).ask(handle_monitor_message=handle)
    assert answer["output_values"] == 1
    assert seen == [(i, i * 10) for i in range(20)]
    assert threading.current_thread().name not in threads


@pytest.mark.allow_blocking
def test_xyz_error_callbacks_get_the_errors_and_may_call_the_blocking_api(tmp_path: Any) -> None:
    script = textwrap.dedent(
        """
        import threading, urllib.request, urllib.error
        import asyncwf.blocking as aw
        import asyncwf.blocking.workflows as wf

        with aw.LocalBackend() as backend, backend.client() as client:
            layer = wf.XYZ.build(wf.Image.from_id(wf.parameter("image", wf.Str)), client=client)
            layer.save()
            seen, done = [], threading.Event()
            def callback(msg):
                seen.append((msg.code, wf.Str(msg.session_id).upper().compute(client=client)))
                if len(seen) == 2:
                    done.set()
            listener = layer.error_listener()
            listener.add_callback(callback)
            listener.listen("s1")
            for _ in range(2):
                url = layer.url(session_id="s1", image="missing").format(x=0, y=0, z=1)
                try:
                    urllib.request.urlopen(url, timeout=10)
                except urllib.error.HTTPError as exc:
                    assert exc.code == 400
            assert done.wait(10), seen
            assert listener.stop(timeout=5) is True
            assert seen == [("INVALID", "S1"), ("INVALID", "S1")], seen
            print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
