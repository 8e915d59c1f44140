#!/usr/bin/python3
"""WebSocket protocol tests for mio-chat with a client nobody here wrote: the Python
`websockets` library (Debian's python3-websockets), against the real server binary.

usage: tests/web/websocket.py MIO_CHAT_BINARY CA_PEM CERT_PEM KEY_PEM
Run by tests/web.rs. Exits 0 when every check passed; raises on the first failure.
Everything stays on 127.0.0.1, every wait is bounded, and the script stops by itself.
"""
import asyncio
import signal
import socket
import ssl
import subprocess
import sys

import websockets

BINARY, CA, CERT, KEY = sys.argv[1:5]
PATIENCE = 10.0


class Server:
    def __init__(self, *flags):
        self.proc = subprocess.Popen([BINARY, "serve", "127.0.0.1:0", *flags], stderr=subprocess.PIPE)
        line = self.proc.stderr.readline().decode()
        assert "listening on" in line, line
        self.port = int(line.strip().rsplit(":", 1)[1])

    def ws(self, **kwargs):
        return websockets.connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=PATIENCE, **kwargs)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), PATIENCE)


async def closed_with(ws):
    await asyncio.wait_for(ws.wait_closed(), PATIENCE)
    return ws.close_code, ws.close_reason


async def line_client(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"\n")
    return reader, writer


async def read_line(reader):
    return (await asyncio.wait_for(reader.readline(), PATIENCE)).decode().rstrip("\n")


async def a_websocket_and_a_line_client_chat():
    server = Server()
    try:
        async with server.ws() as ws:
            assert (await recv(ws)).startswith("* welcome to mio-chat, you are guest1;")
            reader, writer = await line_client(server.port)
            assert (await read_line(reader)).startswith("* welcome to mio-chat, you are guest2;")
            assert await recv(ws) == "* guest2 joined"
            await ws.send("hello from websockets")
            assert await read_line(reader) == "guest1: hello from websockets"
            writer.write(b"hello back\n")
            assert await recv(ws) == "guest2: hello back"
            await ws.send(["frag", "mented ", "message"])  # one message in three frames
            assert await read_line(reader) == "guest1: fragmented message"
            pong = await ws.ping(b"are you there")
            await asyncio.wait_for(pong, PATIENCE)
            await ws.send("/quit see you")
            assert await recv(ws) == "* bye"
            assert await closed_with(ws) == (1000, "")
            assert await read_line(reader) == "* guest1 left (see you)"
            writer.close()
    finally:
        server.stop()


async def binary_and_oversized_messages_close_with_their_codes():
    server = Server("--max-message", "100")
    try:
        async with server.ws() as ws:
            await recv(ws)
            await ws.send(b"\x00\x01")
            assert (await closed_with(ws))[0] == 1003
        async with server.ws() as ws:
            await recv(ws)
            await ws.send("x" * 101)
            code, reason = await closed_with(ws)
            assert code == 1009 and "100" in reason, (code, reason)
        async with server.ws() as ws:  # the server is still serving
            assert (await recv(ws)).startswith("* welcome")
    finally:
        server.stop()


async def a_close_from_the_client_is_answered_with_its_code():
    server = Server()
    try:
        async with server.ws() as ws:
            await recv(ws)
            await asyncio.wait_for(ws.close(4000, "done"), PATIENCE)
            assert ws.close_code == 4000, ws.close_code
    finally:
        server.stop()


async def shutdown_tells_websocket_clients_then_closes_with_1001():
    server = Server()
    try:
        async with server.ws() as ws:
            await recv(ws)
            server.proc.send_signal(signal.SIGTERM)
            assert await recv(ws) == "* server shutting down"
            assert (await closed_with(ws))[0] == 1001
        assert server.proc.wait(timeout=PATIENCE) == 0
    finally:
        server.stop()


async def origins_other_than_the_servers_own_are_refused_unless_allowed():
    server = Server("--allowed-origin", "https://friend.example")
    try:
        for origin, allowed in [(None, True), (f"http://127.0.0.1:{server.port}", True),
                                ("https://friend.example", True), ("https://evil.example", False)]:
            try:
                async with server.ws(origin=origin) as ws:
                    assert (await recv(ws)).startswith("* welcome")
                assert allowed, origin
            except websockets.InvalidStatusCode as e:
                assert not allowed and e.status_code == 403, (origin, e)
    finally:
        server.stop()


async def secure_websockets_over_tls_on_the_same_port():
    server = Server("--tls-cert", CERT, "--tls-key", KEY)
    try:
        context = ssl.create_default_context(cafile=CA)
        async with websockets.connect(f"wss://localhost:{server.port}/ws", ssl=context,
                                      open_timeout=PATIENCE) as ws:
            assert (await recv(ws)).startswith("* welcome to mio-chat, you are guest1;")
            reader, writer = await line_client(server.port)  # plain, same port
            await read_line(reader)
            await ws.send("over wss")
            assert await read_line(reader) == "guest1: over wss"
            writer.close()
    finally:
        server.stop()


async def main():
    for test in [a_websocket_and_a_line_client_chat, binary_and_oversized_messages_close_with_their_codes,
                 a_close_from_the_client_is_answered_with_its_code,
                 shutdown_tells_websocket_clients_then_closes_with_1001,
                 origins_other_than_the_servers_own_are_refused_unless_allowed,
                 secure_websockets_over_tls_on_the_same_port]:
        await asyncio.wait_for(test(), 4 * PATIENCE)
        print(f"ok {test.__name__}")


asyncio.run(main())
print("websocket: all checks passed")
