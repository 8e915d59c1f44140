#!/usr/bin/env python3
"""Cluster soak: three `mio-chat serve --cluster` servers on one private redis-server,
random clients doing random things on all three while the link is broken on purpose,
then checks that the cluster agrees with itself again. Measuring only: not run by CI.
Loopback only. Python 3, standard library only.

Each round:
  1. churn: CLIENTS random clients (lines or frames, on a random server) join, leave,
     rename, chat, ask /who /rooms /stats /msg, connect and disconnect, for the round's
     seconds; meanwhile one fault happens (in turn: Redis restarted empty, a server
     stopped with SIGSTOP past the heartbeat and continued, Redis stopped for 3 s);
  2. settle: the churn clients leave; the servers get time to reconnect and re-claim;
  3. check: `mio-chat bench` across the three servers (senders on the first, receivers
     on all) must lose, duplicate and reorder nothing; a probe on each server must see
     the same `/who`, `/rooms` and `/stats` clients; no room channel but the lobby's is
     still subscribed; every server is still running, has logged no panic, and its fd
     count is back near its level before the round.
Prints one line per round and a verdict. Exit status 0 PASS, 1 FAIL.

usage: scripts/cluster_soak.py [--rounds 6] [--seconds 20] [--clients 60]
       (after `cargo build --release`; MIO_CHAT=path overrides the binary)
"""
import argparse
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.environ.get("MIO_CHAT", "target/release/mio-chat")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    def __init__(self):
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.02)
        sys.exit("redis-server did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Server:
    def __init__(self, redis, name):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [BIN, "serve", "127.0.0.1:0", "--cluster", f"redis://127.0.0.1:{redis.port}", "--node-name", name],
            stderr=self.log, env=dict(os.environ, RUST_LOG="info"))
        self.name = name
        deadline = time.time() + 10
        while time.time() < deadline:
            m = re.search(rb"listening on (\S+)", self.text().encode())
            if m and "cluster link up" in self.text():
                self.addr = m.group(1).decode()
                return
            time.sleep(0.05)
        sys.exit(f"{name} did not start:\n{self.text()}")

    def text(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def fds(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def alive(self):
        return self.proc.poll() is None


def redis_cmd(port, *args):
    """One command over raw RESP; the reply's raw text."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall((f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)).encode())
        time.sleep(0.05)
        return s.recv(65536).decode(errors="replace")


def hostport(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def churn_client(servers, stop, rng, stats):
    """One random client: connects, does random things, disconnects, again."""
    while not stop.is_set():
        server = rng.choice(servers)
        frames = rng.random() < 0.5
        try:
            s = socket.create_connection(hostport(server.addr), timeout=2)
        except OSError:
            time.sleep(0.1)
            continue
        s.settimeout(0.05)

        def send(text):
            data = text.encode()
            s.sendall(len(data).to_bytes(4, "little") + data if frames else data + b"\n")

        try:
            s.sendall(b"\0\0\0\0" if frames else b"\n")
            for _ in range(rng.randint(5, 60)):
                if stop.is_set():
                    break
                r = rng.random()
                if r < 0.35:
                    send(f"hello {rng.randint(0, 999)}")
                elif r < 0.55:
                    send(f"/join {rng.choice(['lobby', 'dev', 'ops', 'r1', 'r2', 'r3'])}")
                elif r < 0.65:
                    send(f"/nick n{rng.randint(0, 40)}")
                elif r < 0.72:
                    send("/who")
                elif r < 0.77:
                    send("/rooms")
                elif r < 0.8:
                    send("/stats")
                elif r < 0.87:
                    send(f"/msg n{rng.randint(0, 40)} psst")
                else:
                    send(f"/me waves {rng.randint(0, 9)}")
                stats["ops"] += 1
                try:
                    while s.recv(65536):
                        pass
                except (socket.timeout, BlockingIOError):
                    pass
                time.sleep(rng.random() * 0.05)
        except OSError as e:
            stats["errors"] += 1
            why = stats.setdefault("why", {})
            why[type(e).__name__] = why.get(type(e).__name__, 0) + 1
        finally:
            s.close()


def ask(addr, command, prefix):
    """Connects as a lines client, sends `command`, returns the first reply line that
    starts with `prefix`."""
    with socket.create_connection(hostport(addr), timeout=5) as s:
        s.sendall(b"\n" + command.encode() + b"\n")
        buf = b""
        deadline = time.time() + 5
        while time.time() < deadline:
            buf += s.recv(65536)
            for line in buf.decode(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line
        return None


def who_set(line):
    # "* online (N): a, b, c" without the asking probe's own guest nick
    if not line or ": " not in line:
        return line
    return sorted(n for n in line.split(": ", 1)[1].split(", ") if not n.startswith("guest"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--clients", type=int, default=60)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rng = random.Random(a.seed)
    redis = Redis()
    servers = [Server(redis, n) for n in ("a", "b", "c")]
    fds0 = [s.fds() for s in servers]
    failures = []
    faults = ["redis-restart", "sigstop", "redis-pause"]
    for round_no in range(a.rounds):
        fault = faults[round_no % len(faults)]
        stop = threading.Event()
        stats = {"ops": 0, "errors": 0}
        threads = [threading.Thread(target=churn_client, args=(servers, stop, random.Random(rng.random()), stats))
                   for _ in range(a.clients)]
        for t in threads:
            t.start()
        time.sleep(a.seconds / 3)
        if fault == "redis-restart":
            redis.stop()
            redis.start()
        elif fault == "redis-pause":
            redis.stop()
            time.sleep(3)
            redis.start()
        else:
            victim = servers[round_no % 3]
            victim.proc.send_signal(signal.SIGSTOP)
            time.sleep(13)  # past the heartbeat TTL: the others take it for dead
            victim.proc.send_signal(signal.SIGCONT)
        time.sleep(a.seconds * 2 / 3)
        stop.set()
        for t in threads:
            t.join()
        time.sleep(3)  # links back up, clients claimed again, churn gone

        problems = []
        for s in servers:
            if not s.alive():
                problems.append(f"{s.name} exited")
            if "panicked" in s.text():
                problems.append(f"{s.name} panicked")
        bench = subprocess.run([BIN, "bench", *[s.addr for s in servers], "--clients", "30", "--senders", "2",
                                "--rate", "200", "--duration", "3", "--json"],
                               capture_output=True, text=True, timeout=120)
        m = re.search(r'"lost":\s*(\d+).*?"duplicated":\s*(\d+).*?"reordered":\s*(\d+)', bench.stdout, re.S)
        if bench.returncode != 0 or not m or m.groups() != ("0", "0", "0"):
            problems.append(f"bench: exit {bench.returncode}, {m.groups() if m else bench.stderr[-300:]}")
        time.sleep(1)
        whos = [who_set(ask(s.addr, "/who", "* online")) for s in servers]
        rooms = [ask(s.addr, "/rooms", "* rooms") for s in servers]
        if len({str(w) for w in whos}) != 1:
            problems.append(f"/who differs: {whos}")
        if whos[0] not in ([], None) and whos[0] != []:
            problems.append(f"/who lists clients that left: {whos[0]}")
        if len(set(rooms)) != 1:
            problems.append(f"/rooms differs: {rooms}")
        stats_lines = [ask(s.addr, "/stats", "* stats") for s in servers]
        clients = [re.search(r"clients (\d+)", l or "") for l in stats_lines]
        counts = [int(c.group(1)) if c else None for c in clients]
        if any(c is None or c > 1 for c in counts):  # the asking probe itself, at most
            problems.append(f"/stats clients: {counts} ({stats_lines[0]})")
        channels = sorted(re.findall(r"mio-chat:0:room:(\S+)", redis_cmd(redis.port, "PUBSUB", "CHANNELS", "mio-chat:0:room:*")))
        if channels != ["lobby"]:
            problems.append(f"room channels still subscribed: {channels}")
        fds = [s.fds() for s in servers]
        if any(f > f0 + 8 for f, f0 in zip(fds, fds0)):
            problems.append(f"fds {fds} (before {fds0})")
        verdict = "ok" if not problems else "FAIL: " + "; ".join(problems)
        print(f"round {round_no + 1} ({fault}): {stats['ops']} ops, {stats['errors']} client errors "
              f"{stats.get('why', {})}, "
              f"rooms {rooms[0]}; {verdict}", flush=True)
        failures += problems
    for s in servers:
        s.proc.terminate()
        s.proc.wait()
    redis.stop()
    print("PASS" if not failures else f"FAIL ({len(failures)} problems)")
    sys.exit(0 if not failures else 1)


if __name__ == "__main__":
    main()
