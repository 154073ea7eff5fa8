"""The floor: a bare grpclib server answering one unary call (grpc.health.v1 Check).

Run as a script it serves on a free port and prints ``{"port": N}``.
"""

from __future__ import annotations

import asyncio
import json
import signal

from grpclib.health.service import Health
from grpclib.server import Server


async def main() -> None:
    server = Server([Health()])
    await server.start("127.0.0.1", 0)
    port = server._server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
