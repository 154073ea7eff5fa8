"""Downloads moved by a worker thread (asyncwf.data._download), against real HTTP servers over sockets."""

from __future__ import annotations

import asyncio
import http.server
import os
import ssl
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import blake3
import pytest
from aiohttp import web

from asyncwf.data._download import PROGRESS_BYTES, ConnectionPool, download_to_file
from asyncwf.data._hashing import cached_file_hash, crc32c_b64
from asyncwf.exceptions import FileNotFound, IntegrityError, InvalidInputException, StorageError

BODY = os.urandom(12 * 1024 * 1024 + 123)


class Server:
    """An aiohttp server with the routes the tests need; it records each request's peer and headers."""

    def __init__(self) -> None:
        self.peers: list[tuple[str, int]] = []
        self.authorizations: list[str | None] = []
        self.release = asyncio.Event()
        self.url = ""

    async def body(self, request: web.Request) -> web.Response:
        self.peers.append(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        self.authorizations.append(request.headers.get("Authorization"))
        return web.Response(body=BODY, headers={"x-goog-hash": f"crc32c={crc32c_b64(BODY)},md5=x"})

    async def chunked(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(BODY), 1_000_003):
            await response.write(BODY[start : start + 1_000_003])
        await response.write_eof()
        return response

    async def stalls(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(len(BODY))})
        await response.prepare(request)
        await response.write(BODY[: 2 * PROGRESS_BYTES])
        await self.release.wait()  # never set: the client gives up first
        return response

    async def corrupt(self, request: web.Request) -> web.Response:
        return web.Response(body=b"corrupted!", headers={"x-goog-hash": "crc32c=AAAAAA==,md5=x"})

    async def status(self, request: web.Request) -> web.Response:
        return web.Response(status=int(request.match_info["code"]), text="no")

    async def redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query.get("to", "/body"))

    async def loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    app = web.Application()
    app.router.add_get("/body", state.body)
    app.router.add_get("/chunked", state.chunked)
    app.router.add_get("/stalls", state.stalls)
    app.router.add_get("/corrupt", state.corrupt)
    app.router.add_get("/status/{code}", state.status)
    app.router.add_get("/redirect", state.redirect)
    app.router.add_get("/loop", state.loop)
    runner = web.AppRunner(app, keepalive_timeout=0.3)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    state.release.set()
    await runner.cleanup()


@pytest.fixture
def pool() -> AsyncIterator[ConnectionPool]:
    connections = ConnectionPool()
    yield connections  # type: ignore[misc]
    connections.close()


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def parts(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(".part"))


async def test_a_download_is_checked_written_whole_and_its_progress_reported_on_the_loop(
    server: Server, pool: ConnectionPool, tmp_path: Path
) -> None:
    loop_thread = threading.get_ident()
    reports: list[tuple[int, int]] = []
    target = tmp_path / "new" / "dir" / "file.bin"
    hasher = await download_to_file(
        f"{server.url}/body", {"Authorization": "Bearer t"}, str(target), "body", pool=pool,
        progress=lambda n: reports.append((n, threading.get_ident())),
    )  # fmt: skip
    assert target.read_bytes() == BODY
    assert hasher.size == len(BODY) and hasher.hash_value == blake3.blake3(BODY).hexdigest()
    assert hasher.crc32c == crc32c_b64(BODY)  # checked against the x-goog-hash
    assert sum(n for n, _ in reports) == len(BODY) and {t for _, t in reports} == {loop_thread}
    assert len(reports) == len(BODY) // PROGRESS_BYTES + 1
    stat = target.stat()
    assert cached_file_hash(str(target), stat.st_size, stat.st_mtime_ns) == hasher.hash_value
    assert server.authorizations == ["Bearer t"] and parts(tmp_path) == []


async def test_a_known_blake3_is_what_the_download_is_checked_against(
    server: Server, pool: ConnectionPool, tmp_path: Path
) -> None:
    good = blake3.blake3(BODY).hexdigest()
    hasher = await download_to_file(f"{server.url}/body", {}, str(tmp_path / "a"), "a", pool=pool, blake3=good)
    assert hasher.hash_value == good and hasher.crc32c == ""  # one checksum computed, not two
    (tmp_path / "b").write_bytes(b"what was here before")
    with pytest.raises(IntegrityError, match="BLAKE3"):
        await download_to_file(f"{server.url}/body", {}, str(tmp_path / "b"), "b", pool=pool, blake3="0" * 64)
    assert (tmp_path / "b").read_bytes() == b"what was here before" and parts(tmp_path) == []
    with pytest.raises(IntegrityError, match="CRC32C"):
        await download_to_file(f"{server.url}/corrupt", {}, str(tmp_path / "c"), "c", pool=pool)
    assert not (tmp_path / "c").exists() and parts(tmp_path) == []


async def test_connections_are_kept_alive_and_replaced_when_the_server_closes_them(
    server: Server, pool: ConnectionPool, tmp_path: Path
) -> None:
    for n in range(3):
        await download_to_file(f"{server.url}/body", {}, str(tmp_path / f"{n}"), "x", pool=pool)
    assert len(set(server.peers)) == 1  # one connection for all three
    await asyncio.sleep(0.6)  # past the server's keep-alive timeout: it closes the idle connection
    await download_to_file(f"{server.url}/body", {}, str(tmp_path / "after"), "x", pool=pool)
    assert (tmp_path / "after").read_bytes() == BODY and len(set(server.peers)) == 2


async def test_chunked_bodies_and_redirects(server: Server, pool: ConnectionPool, tmp_path: Path) -> None:
    await download_to_file(f"{server.url}/chunked", {}, str(tmp_path / "chunked"), "x", pool=pool)
    assert (tmp_path / "chunked").read_bytes() == BODY
    await download_to_file(f"{server.url}/redirect", {"Authorization": "Bearer t"}, str(tmp_path / "r"), "x",
                           pool=pool)  # fmt: skip
    assert (tmp_path / "r").read_bytes() == BODY and server.authorizations == ["Bearer t"]
    # Redirected to another host (localhost, not 127.0.0.1): the credentials are not sent there.
    elsewhere = server.url.replace("127.0.0.1", "localhost") + "/body"
    await download_to_file(f"{server.url}/redirect?to={elsewhere}", {"Authorization": "Bearer t"},
                           str(tmp_path / "r2"), "x", pool=pool)  # fmt: skip
    assert server.authorizations == ["Bearer t", None]
    with pytest.raises(StorageError, match="redirects"):
        await download_to_file(f"{server.url}/loop", {}, str(tmp_path / "loop"), "x", pool=pool)
    assert parts(tmp_path) == [] and not (tmp_path / "loop").exists()


async def test_http_and_network_errors_are_typed_and_leave_nothing(
    server: Server, pool: ConnectionPool, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFound, match="gs://b/missing"):
        await download_to_file(f"{server.url}/status/404", {}, str(tmp_path / "m"), "gs://b/missing", pool=pool)
    with pytest.raises(StorageError, match="503") as raised:
        await download_to_file(f"{server.url}/status/503", {}, str(tmp_path / "m"), "x", pool=pool)
    assert raised.value.status == 503  # type: ignore[attr-defined]
    with pytest.raises(StorageError, match="ConnectionRefused"):
        await download_to_file("http://127.0.0.1:9/x", {}, str(tmp_path / "m"), "x", pool=pool)
    (tmp_path / "a-directory").mkdir()
    with pytest.raises(InvalidInputException, match="is a directory"):
        await download_to_file(f"{server.url}/body", {}, str(tmp_path / "a-directory"), "x", pool=pool)
    (tmp_path / "a-directory").rmdir()
    with pytest.raises(StorageError, match="ftp"):
        await download_to_file("ftp://example.com/x", {}, str(tmp_path / "m"), "x", pool=pool)
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"Content-Length: 1000000\r\n\r\n" + b"x" * 300_000, "closed after 300000 of 1000000 bytes"),
        (b"Transfer-Encoding: chunked\r\n\r\n186a0\r\n" + b"x" * 100_000 + b"\r\n", "IncompleteRead"),
    ],
    ids=["content-length", "chunked"],
)
async def test_a_body_cut_short_fails_and_leaves_nothing(pool: ConnectionPool, tmp_path: Path, answer: bytes,
                                                         error: str) -> None:  # fmt: skip
    async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n" + answer)
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(cut_short, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        with pytest.raises(StorageError, match=error):
            await download_to_file(f"http://127.0.0.1:{port}/x", {}, str(tmp_path / "x"), "x", pool=pool)
    assert listing(tmp_path) == []


async def test_cancelling_stops_the_thread_at_once_and_leaves_nothing(
    server: Server, pool: ConnectionPool, tmp_path: Path
) -> None:
    received = asyncio.Event()
    download = asyncio.create_task(
        download_to_file(f"{server.url}/stalls", {}, str(tmp_path / "x"), "x", pool=pool,
                         progress=lambda n: received.set()),
    )  # fmt: skip
    await received.wait()  # the thread is now blocked reading a body that does not come
    download.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(download, 10)  # returns when the thread has cleaned up, not at the read timeout
    assert listing(tmp_path) == []
    # The thread is free again and the pool holds no broken connection.
    await download_to_file(f"{server.url}/body", {}, str(tmp_path / "y"), "y", pool=pool)
    assert (tmp_path / "y").read_bytes() == BODY


async def test_downloads_run_side_by_side(server: Server, pool: ConnectionPool, tmp_path: Path) -> None:
    await asyncio.gather(*(download_to_file(f"{server.url}/body", {}, str(tmp_path / f"{n}"), "x", pool=pool)
                           for n in range(6)))  # fmt: skip
    assert all((tmp_path / f"{n}").read_bytes() == BODY for n in range(6))


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


class _Body(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


async def test_https_is_verified_against_the_trusted_certificates(
    pool: ConnectionPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncwf.data import _download

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Body)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    serving = threading.Thread(target=httpd.serve_forever, daemon=True)
    serving.start()
    url = f"https://127.0.0.1:{httpd.server_address[1]}/body"
    try:
        # Not trusted: refused (the connection is verified as aiohttp's would be).
        monkeypatch.setattr(_download, "_tls", None)
        with pytest.raises(StorageError, match="CERTIFICATE_VERIFY_FAILED"):
            await download_to_file(url, {}, str(tmp_path / "x"), "x", pool=pool)
        # Trusted through SSL_CERT_FILE, as OpenSSL's default paths allow: downloaded over TLS.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        monkeypatch.setattr(_download, "_tls", None)
        await download_to_file(url, {}, str(tmp_path / "x"), "x", pool=pool)
        assert (tmp_path / "x").read_bytes() == BODY
    finally:
        pool.close()
        await asyncio.to_thread(httpd.shutdown)
        httpd.server_close()


@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")  # (Python 3.12+: it is the point)
async def test_a_forked_child_downloads_with_threads_and_connections_of_its_own(
    server: Server, pool: ConnectionPool, tmp_path: Path
) -> None:
    import multiprocessing

    # The parent has download threads and a kept-alive connection when it forks.
    await download_to_file(f"{server.url}/body", {}, str(tmp_path / "parent"), "x", pool=pool)

    def child() -> None:
        asyncio.run(download_to_file(f"{server.url}/body", {}, str(tmp_path / "child"), "x", pool=pool))

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    await asyncio.to_thread(process.join, 60)
    assert process.exitcode == 0 and (tmp_path / "child").read_bytes() == BODY
    assert len(set(server.peers)) == 2  # the child did not use the parent's connection
    await download_to_file(f"{server.url}/body", {}, str(tmp_path / "again"), "x", pool=pool)
    assert len(set(server.peers)) == 2  # and the parent's is still good


async def test_a_server_that_stops_sending_is_given_up_on(
    server: Server, pool: ConnectionPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncwf.data import _download

    monkeypatch.setattr(_download, "READ_TIMEOUT_SECONDS", 0.5)
    with pytest.raises(StorageError, match="timed out"):
        await download_to_file(f"{server.url}/stalls", {}, str(tmp_path / "x"), "x", pool=pool)
    assert listing(tmp_path) == []
