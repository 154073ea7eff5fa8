"""Write tests/workflows/dl_corpus.json: programs built with the real Descartes Labs client, with Python's answer
(with ``rasters``: dl_raster_corpus.json, the raster programs, without answers).

Run by ``scripts/gen_dl_corpus.sh`` in a virtualenv of ``descarteslabs==1.12.1`` (Python 3.9; the client builds
grafts offline). Each case is one program: the graft and typespec the client would send in a ``CreateJob``
(parameters as a function graft with an ``arguments`` map), and the value Python gives for the same program,
in asyncwf's wire encoding (``{"$tuple": ...}``, ``{"$datetime": ...}``). ``tests/workflows/test_dl_corpus.py``
evaluates every case through ``asyncwf serve``.
"""

import datetime as dt
import json
import math
import os
import sys
import warnings

warnings.simplefilter("ignore")
os.environ.setdefault("DESCARTESLABS_ENV", "gcp-production")

import descarteslabs.workflows as wf  # noqa: E402
from descarteslabs.workflows.execution import to_computable  # noqa: E402
from google.protobuf.json_format import MessageToDict  # noqa: E402

CASES = []


def encode(value):
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"$dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$timedelta": value.total_seconds()}
    raise TypeError(type(value))


def case(name, obj, expected, **arguments):
    """One program as the client sends it in a ``CreateJob`` (``to_computable``), and Python's answer."""
    computable, argument_grafts, typespec, _ = to_computable(obj, arguments)
    CASES.append(
        {
            "name": name,
            "graft": computable.graft,
            "typespec": MessageToDict(typespec),
            "arguments": dict(argument_grafts),
            "expected": encode(expected),
        }
    )


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "workflows"))
from dl_programs import programs  # noqa: E402

if sys.argv[1:] == ["rasters"]:  # the raster programs: no answer here (it depends on the test catalogue)
    from dl_raster_programs import raster_programs

    raster_programs(wf, lambda name, obj: case(name, obj, None))
else:
    programs(wf, case)
json.dump(CASES, sys.stdout, indent=None, separators=(",", ":"), sort_keys=True)
sys.stdout.write("\n")
print(f"{len(CASES)} cases", file=sys.stderr)
