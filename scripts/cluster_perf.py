#!/usr/bin/python3
"""Cluster costs, measured in one run (docs/performance.md, "Several servers").

1. The same load (K senders, N receivers, one room, paced to RATE messages/s) against
   one server alone, one server with --cluster (the Redis hop), and two servers with
   --cluster (receivers spread over both, senders on the first): deliveries/s, loss,
   p50/p99, server CPU per delivery, Redis CPU per room message.
2. Redis's work per room message against the number of members (one server, clustered,
   the same message rate, 100 to 4000 receivers): it must not grow with members.
3. redis-benchmark: PUBLISHes per second one Redis takes with S subscribed servers, the
   input to the "servers needed for an audience" arithmetic.
4. S1 (a flood) through Redis: Redis's output buffer towards the servers' subscription
   connections, sampled; a server too slow to read the bus would be cut off by Redis.

Servers and Redis run on CPU 0, the load generator on CPU 1 (two cores: the servers
share one, so this measures costs, not scaling). Measuring only: not run by CI.
Usage, from the project root after `cargo build --release` (about 8 minutes with 5 reps):
    scripts/cluster_perf.py [--rate 200] [--clients 1000] [--duration 10] [--reps 3]
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

BIN = os.environ.get("MIO_CHAT", "target/release/mio-chat")
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def redis_cmd(port, *args):
    """One command over raw RESP; returns the reply's raw text."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        req = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        s.sendall(req.encode())
        s.settimeout(2)
        data = b""
        while True:
            chunk = s.recv(65536)
            data += chunk
            if not chunk or data.endswith(b"\r\n") and (not data.startswith(b"$") or data.count(b"\r\n") >= 2):
                return data.decode(errors="replace")


def publish_stats(port):
    """(calls, usec) of PUBLISH, and of EVAL, from INFO commandstats."""
    info = redis_cmd(port, "INFO", "commandstats")
    out = {}
    for line in info.splitlines():
        for cmd in ("publish", "eval"):
            if line.startswith(f"cmdstat_{cmd}:"):
                parts = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
                out[cmd] = (int(parts["calls"]), int(parts["usec"]))
    return out


class Redis:
    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["taskset", "-c", "0", "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port)).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("redis-server did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Server:
    def __init__(self, redis=None, name=None):
        args = ["taskset", "-c", "0", BIN, "serve", "127.0.0.1:0", "--max-clients", "20000", "--max-backlog", str(64 << 20)]
        if redis:
            args += ["--cluster", f"redis://127.0.0.1:{redis.port}", "--node-name", name]
        env = dict(os.environ, RUST_LOG="info")
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, env=env, text=True)
        first = self.proc.stderr.readline()
        self.addr = first.strip().removeprefix("mio-chat listening on ")
        if redis:
            deadline = time.time() + 10
            while time.time() < deadline:
                line = self.proc.stderr.readline()
                if "cluster link up" in line:
                    break
            else:
                sys.exit(f"{name}: no cluster link")

    def stop(self):
        """Stops the server and returns the rest of its log."""
        self.proc.send_signal(signal.SIGTERM)
        rest = self.proc.stderr.read()
        self.proc.wait()
        return rest


def bench(addrs, clients, senders, rate, duration, size=64):
    cmd = ["taskset", "-c", "1", BIN, "bench", *addrs, "--clients", str(clients), "--senders", str(senders), "--rate", str(rate),
           "--duration", str(duration), "--size", str(size), "--json"]
    return run_bench(cmd)


def run_bench(cmd):
    """Runs `mio-chat bench ... --json` and returns its report."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        sys.exit(f"bench failed: {out.stderr[-2000:]}")


def outcome(kind, d):
    """What every run reports from the bench's JSON."""
    return {
        "kind": kind,
        "deliveries": d["deliveries"],
        "lost": d["lost"],
        "reordered": d["reordered"],
        "deliveries_per_s": d["deliveries_per_s"],
        "p50_ms": d["latency_p50_us"] / 1000,
        "p99_ms": d["latency_p99_us"] / 1000,
    }


def run(kind, clients, senders, rate, duration):
    redis = Redis() if kind != "one" else None
    names = {"one": [None], "one+redis": ["a"], "two+redis": ["a", "b"]}[kind]
    servers = [Server(redis, n) for n in names]
    pids = [s.proc.pid for s in servers]
    cpu0 = [cpu_seconds(p) for p in pids]
    rcpu0 = cpu_seconds(redis.proc.pid) if redis else 0
    stats0 = publish_stats(redis.port) if redis else {}
    d = bench([s.addr for s in servers], clients, senders, rate, duration)
    cpu = sum(cpu_seconds(p) for p in pids) - sum(cpu0)
    rcpu = cpu_seconds(redis.proc.pid) - rcpu0 if redis else 0
    stats = publish_stats(redis.port) if redis else {}
    for s in servers:
        s.stop()
    if redis:
        redis.stop()
    pub = stats.get("publish", (0, 0))
    pub0 = stats0.get("publish", (0, 0))
    publishes = pub[0] - pub0[0]
    return {
        **outcome(kind, d),
        "receivers": clients,
        "server_cpu_s": cpu,
        "server_ns_per_delivery": cpu * 1e9 / max(1, d["deliveries"]),
        "redis_cpu_s": rcpu,
        "publishes": publishes,
        "redis_us_per_publish_cpu": rcpu * 1e6 / publishes if publishes else None,
        "publish_usec_per_call": (pub[1] - pub0[1]) / publishes if publishes else None,
    }


def flood(kind, clients=1000, senders=4, messages=5000):
    """S1 through Redis: the bench sends as fast as it can; Redis's output buffer for
    the servers' subscription connections is sampled every 50 ms (a server that did not
    keep up would see it grow towards `client-output-buffer-limit pubsub` and be cut
    off, which the server logs as a lost link)."""
    redis = Redis()
    servers = [Server(redis, n) for n in {"one+redis": ["a"], "two+redis": ["a", "b"]}[kind]]
    peak = {"omem": 0, "tot-mem": 0}
    done = threading.Event()

    def watch():
        while not done.is_set():
            for line in redis_cmd(redis.port, "CLIENT", "LIST", "TYPE", "pubsub").splitlines():
                fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
                for key in peak:
                    peak[key] = max(peak[key], int(fields.get(key, 0)))
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    cmd = ["taskset", "-c", "1", BIN, "bench", *[s.addr for s in servers], "--clients", str(clients),
           "--senders", str(senders), "--size", "64", "--messages", str(messages), "--json"]
    for s in servers:
        cmd += ["--server-pid", str(s.proc.pid)]
    d = run_bench(cmd)
    done.set()
    watcher.join()
    logs = [s.stop() for s in servers]
    redis.stop()
    return {
        **outcome(kind, d),
        "server_cpu_s": d.get("server_cpu_s"),
        "peak_pubsub_omem_bytes": peak["omem"],
        "peak_pubsub_tot_mem_bytes": peak["tot-mem"],
        "links_lost": sum(log.count("cluster link lost") for log in logs),
    }


def redis_benchmark(subscribers, size=100, n=400000):
    redis = Redis()
    subs = [
        subprocess.Popen(["redis-cli", "-p", str(redis.port), "subscribe", "mio-chat:0:room:lobby"], stdout=subprocess.DEVNULL)
        for _ in range(subscribers)
    ]
    time.sleep(0.5)
    out = subprocess.run(
        ["redis-benchmark", "-p", str(redis.port), "-n", str(n), "-c", "8", "-P", "16", "-q",
         "PUBLISH", "mio-chat:0:room:lobby", "x" * size],
        capture_output=True, text=True, timeout=300,
    ).stdout
    for s in subs:
        s.kill()
    redis.stop()
    # "PUBLISH mio-chat:0:room:lobby xxx: 123456.79 requests per second, p50=..."
    line = [l for l in out.replace("\r", "\n").splitlines() if "requests per second" in l][-1]
    return float(line.split(":")[-1].split("requests")[0].strip().split()[-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--senders", type=int, default=4)
    p.add_argument("--rate", type=int, default=200)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--reps", type=int, default=3, help="interleaved runs per setup (medians are printed)")
    a = p.parse_args()
    print(f"# same load: {a.clients} receivers, {a.senders} senders, {a.rate} messages/s, {a.duration} s, {a.reps} interleaved runs each")
    kinds = ("one", "one+redis", "two+redis")
    runs = {kind: [] for kind in kinds}
    for _ in range(a.reps):
        for kind in kinds:
            r = run(kind, a.clients, a.senders, a.rate, a.duration)
            runs[kind].append(r)
            print(json.dumps(r), flush=True)
    print("# medians")
    for kind in kinds:
        med = {"kind": kind, "lost": sum(r["lost"] for r in runs[kind])}
        for key in ("deliveries_per_s", "p50_ms", "p99_ms", "server_ns_per_delivery", "redis_cpu_s", "publish_usec_per_call"):
            values = [r[key] for r in runs[kind] if r[key] is not None]
            med[key] = statistics.median(values) if values else None
        print(json.dumps(med), flush=True)
    print("# Redis work per room message against members (one server, --cluster)")
    for clients in (100, 1000, 4000):
        print(json.dumps(run("one+redis", clients, a.senders, a.rate, a.duration)), flush=True)
    print("# redis-benchmark: PUBLISH/s with S subscribed servers (100-byte payload)")
    for s in (1, 2, 4, 8):
        print(json.dumps({"subscribers": s, "publish_per_s": redis_benchmark(s)}), flush=True)
    print("# S1 (flood) through Redis: does the bus keep up?")
    for _ in range(2):
        for kind in ("one+redis", "two+redis"):
            print(json.dumps(flood(kind)), flush=True)


if __name__ == "__main__":
    main()
