"""TiTiler serving tiles over HTTP (run in its own virtualenv by bench_tiles.py): prints {"port": N}, then serves.

The application is TiTiler's own ``TilerFactory`` router under uvicorn (one process; FastAPI runs the
tile endpoint in its thread pool), as a deployment of ``titiler.core`` would run it.
"""

import json
import socket

import uvicorn
from fastapi import FastAPI
from titiler.core.factory import TilerFactory


def main() -> None:
    app = FastAPI()
    app.include_router(TilerFactory().router)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(json.dumps({"port": sock.getsockname()[1]}), flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
