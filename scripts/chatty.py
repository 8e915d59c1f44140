#!/usr/bin/env python3
"""Server CPU per message for many chatty clients that are each alone in their own room:
every message is one small read and no fan-out, so this measures the per-read path.
Measuring only: not run by CI. Loopback only.

usage: scripts/chatty.py PORT CLIENTS ROUNDS_PER_S SECONDS SERVER_PID
e.g.   taskset -c 0 target/release/mio-chat serve 127.0.0.1:19555 & \\
       taskset -c 1 scripts/chatty.py 19555 1000 20 10 $!
"""
import os
import socket
import sys
import time

port, n, rate, secs, pid = (int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]),
                            float(sys.argv[4]), int(sys.argv[5]))
socks = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"\n/join r{i}\n".encode())  # a line client, alone in room r<i>
    s.setblocking(False)
    socks.append(s)
time.sleep(1.0)


def drain():
    for s in socks:
        try:
            while s.recv(65536):
                pass
        except BlockingIOError:
            pass


def cpu_ticks():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


drain()
line = b"hello there, this is a typical chat line of some length\n"
t0, start, sent = cpu_ticks(), time.time(), 0
while time.time() - start < secs:
    tick = time.time()
    for s in socks:
        s.send(line)
        sent += 1
    drain()
    time.sleep(max(0.0, 1.0 / rate - (time.time() - tick)))
cpu = (cpu_ticks() - t0) / os.sysconf("SC_CLK_TCK")
print(f"sent={sent} server_cpu_s={cpu:.2f} us_per_msg={cpu * 1e6 / sent:.2f}")
