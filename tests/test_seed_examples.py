"""Every example of the four seeds, as written, through ``asyncwf.blocking``: from plain code, and from a
sync function called inside a running event loop (a notebook cell, a sync helper of async code).

Each case runs in its own process against a ``LocalBackend`` (the seeds' backends do not exist): the
environment points the seeds' default clients at it (``ASYNCWF_PORT``, ``ASYNCWF_TOKEN``), the catalogue
holds the Landsat scene id the seed names, and only the import lines differ from the seeds.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: A backend with auth on and the seed's Landsat scene, and the environment the seeds' clients read.
SETUP = """
import asyncio, datetime, os, sys, tempfile, warnings
from pathlib import Path
import numpy as np
import rasterio
import asyncwf.blocking as aw
from asyncwf.exceptions import BlockingCallWarning

warnings.simplefilter("error")
warnings.simplefilter("ignore", BlockingCallWarning)  # said once per loop: expected in the loop case
tmp = Path(tempfile.mkdtemp())
backend = aw.LocalBackend(tokens={"seed-token": "alice", "other-token": "bob"}, data_dir=tmp / "data",
                          admins=["alice"], raster_roots=(tmp,))
backend.__enter__()
os.environ["ASYNCWF_PORT"] = str(backend.port)
os.environ["ASYNCWF_TOKEN"] = "seed-token"
scene = tmp / "scene.tif"
with rasterio.open(scene, "w", driver="GTiff", width=16, height=16, count=2, dtype="float64", crs="EPSG:4326",
                   transform=rasterio.Affine(0.0625, 0, 10, 0, -0.0625, 46)) as dst:
    dst.write(np.stack([np.arange(256.0).reshape(16, 16), np.ones((16, 16))]))
aw.add_image(str(scene), "landsat:LC08:PRE:TOAR:meta_LC80270312016188_v1", "landsat:LC08:PRE:TOAR",
             datetime.datetime(2016, 7, 6, tzinfo=datetime.UTC), band_names=["red", "nir"], client=backend.client())
geoctx = aw.GeoContext((10, 45, 11, 46), "EPSG:4326", shape=(16, 16))
non_default_auth = aw.Auth("other-token")
"""

#: The seeds' examples; ``import descarteslabs.workflows`` reads ``import asyncwf.blocking.workflows``.
EXAMPLES = {
    "workflows-job-image": """
        import asyncwf.blocking.workflows as wf
        img = wf.Image.from_id("landsat:LC08:PRE:TOAR:meta_LC80270312016188_v1")
        job = img.compute(geoctx, block=False)
        result = job.result()
        assert isinstance(result, wf.ImageResult) and result.ndarray.shape == (2, 16, 16), result
        assert float(result.ndarray[0].sum()) == sum(range(256))
    """,
    "workflows-job-int": """
        import asyncwf.blocking.workflows as wf
        job = wf.Int(1).compute(block=False)
        assert job.result(timeout=10) == 1
        assert wf.Int(1).compute() == 1
    """,
    "workflows-xyz-listener": """
        import asyncwf.blocking.workflows as wf
        xyz = wf.XYZ.build(wf.Image.from_id("landsat:LC08:PRE:TOAR:meta_LC80270312016188_v1"))
        xyz.save()
        listener = xyz.error_listener()
        messages = []
        def callback(msg):
            messages.append((msg.code, msg.message))
        listener.add_callback(callback)
        listener.listen("my_session_id", start_datetime=datetime.datetime.now())
        # later
        assert listener.stop(timeout=10) is True
        assert messages == []
    """,
    "client-non-default-auth": """
        from asyncwf.blocking.workflows import Client, Int
        my_client = Client(auth=non_default_auth)
        assert Int(1).compute(client=my_client) == 1
        published = Int(1).publish("One", client=my_client)
        assert published.name == "One" and published.object.compute(client=my_client) == 1
    """,
    "client-health": """
        from asyncwf.blocking import Client as GrpcClient
        assert GrpcClient().health() == "SERVING"
    """,
    "octue-datafile-open": """
        from asyncwf.blocking.data import Datafile
        datafile = Datafile(str(tmp / "notes.txt"), mode="w")
        with datafile.open("w") as f:
            f.write("some data")
        with Datafile(str(tmp / "notes.txt")).open() as f:
            assert f.read() == "some data"
    """,
    "xf-temporary-working-directory": """
        from asyncwf.blocking.worker import TemporaryWorkingDirectory
        twd = TemporaryWorkingDirectory("seed")
        path = twd.create_temp_path("scan.aim")
        path.write_text("x")
        with twd.subdir("sub"):
            inner = twd.create_temp_path("scan.aim")
        assert twd.is_under(path) and twd.is_under(inner) and inner.parent.name.startswith("sub")
        twd.remove()
        assert not path.exists()
    """,
}

RUNNERS = {
    "plain": "example()",
    "in-a-running-loop": "async def main():\n    example()\n\nasyncio.run(main())",
}


@pytest.mark.allow_blocking
@pytest.mark.parametrize("runner", sorted(RUNNERS))
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_seed_example_runs_through_the_blocking_api(name: str, runner: str) -> None:
    body = textwrap.indent(textwrap.dedent(EXAMPLES[name]).strip(), "    ")
    script = f"{SETUP}\ndef example():\n{body}\n\n{RUNNERS[runner]}\nbackend.__exit__(None, None, None)\nprint('ok')\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
