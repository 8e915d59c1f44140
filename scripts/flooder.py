#!/usr/bin/env python3
"""A line client that floods a room as fast as its socket takes it, reading and dropping
everything it is sent, for SECONDS; prints how many lines the kernel took. Measuring only
(the `--msg-rate` row of docs/performance.md): not run by CI. Loopback only.

usage: scripts/flooder.py PORT SECONDS ROOM
"""
import selectors
import socket
import sys
import time

port, secs, room = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
sock = socket.create_connection(("127.0.0.1", port))
sock.sendall(f"\n/join {room}\n".encode())
sock.setblocking(False)
sel = selectors.DefaultSelector()
sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
line = b"flood flood flood flood flood flood\n"
chunk, pending, sent = line * 1000, b"", 0
end = time.time() + secs
while time.time() < end:
    for _key, mask in sel.select(0.1):
        if mask & selectors.EVENT_READ:
            try:
                while sock.recv(65536):
                    pass
            except BlockingIOError:
                pass
        if mask & selectors.EVENT_WRITE:
            pending = pending or chunk
            try:
                n = sock.send(pending)
                pending, sent = pending[n:], sent + n
            except BlockingIOError:
                pass
print(f"flooder: the kernel took {sent // len(line)} lines", file=sys.stderr)
