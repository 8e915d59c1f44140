#!/usr/bin/env python3
"""Hostile-client attacks against a `mio-chat` binary: what one bad client costs everyone else.

Measuring only: not run by CI. Loopback only. Python 3.11, standard library only.

Every attack starts a fresh `BIN serve 127.0.0.1:0` pinned to CPU 0 (`taskset -c 0`) and
kills it at the end; this script pins itself (and its children) to CPU 1. Beside each
attack a probe (a child process of this script, so the attack loop cannot delay it) keeps
a sender and a receiver chatting in room `watch`, one timestamped line every 10 ms, and
reports the latency of the lines sent during the attack window (p50/p99/max ms) and how
many were lost. Also reported per attack: the server's peak RSS increase during the attack
(VmHWM, reset through /proc/PID/clear_refs just before the attack, minus VmRSS just before),
its RSS ~5 s after the attack ended, its CPU seconds during the attack, and a note. A server
whose RSS passes 3 GiB is killed at once and reported as "> 3 GiB".

Attacks (the table has one row each):
  baseline         the probe alone
  who              lobby of 1000 idle readers; the attacker writes 250 KB of `/who` once and
                   never reads. The window ends when the attacker is dropped, or everything
                   was written and the server was idle for 1 s, or after 30 s
  rooms            3000 clients each alone in a room; the attacker writes 14 KB of `/rooms`
                   (same window rule)
  join             lobby of 2000 readers; the attacker writes 240 KB of `/join x`+`/join lobby`
                   (same window rule)
  join-distinct    the same with 240 KB of `/join r0`, `/join r1`, ... (a new room each time)
  never-reader     a never-reading client (SO_RCVBUF 4096) in room `quiet` while `BIN bench`
                   floods room `busy` for 20 s (10 receivers, 2 senders, 4 KiB, 5000/s)
  never-reader-pm  a never-reader (SO_RCVBUF 4096) in the lobby; a sender `/nick self`
                   writes `/msg self <60000 x>` + `hi` for 20 s, as fast as it can without
                   being slow itself (at most 512 KiB of its replies unread). First the
                   sender chats 1000-byte lines to the lobby until the server's kernel send
                   queue towards the never-reader stops growing (~2.7 MiB on loopback,
                   whatever SO_RCVBUF says): without that the `hi`s would only fill kernel
                   buffers for the whole 20 s and the server would never queue anything
  drip-64k         1000 connections each send 65000 bytes of a line, then 1 byte / 20 ms
                   each for 15 s (server CPU per dripped byte). After ~10.7 s the lines pass
                   the 65536-byte limit (`! line too long`, then discarded): the note also
                   gives the CPU per byte before the server's first answer. A saturated
                   server reads several drip bytes at once, so per-byte costs of a slow
                   server look smaller at full size than with --quick
  drip-100         the same with 100-byte partial lines
  undecided        --max-clients 50 (+2 for the probe): 50 connections send 1-3 bytes and
                   no newline; does a newcomer get in, are the 50 closed, and when
  flood-2b         one client sends `a\\n` as fast as it can for 10 s
  sigterm          the `who` attack, SIGTERM 1 s later: how long until the server exits

With --cluster, every attack gets its own `redis-server` (from PATH, on a free loopback
port, CPU 0 beside the server) and the server runs with `--cluster` against it, so the
attacks also hit the Redis link (`/who` and `/rooms` are answered by Redis there).

Usage:
  scripts/hostile.py BIN [ATTACK ...] [--quick] [--cluster] [--json FILE]
e.g.
  scripts/hostile.py target/release/mio-chat                     # all attacks, ~3-5 min
  scripts/hostile.py /work/before/mio-chat who join --json old.json
  scripts/hostile.py target/release/mio-chat --quick             # smoke run, ~1-2 min
No attack names runs all of them. --quick scales sizes and durations down. Progress goes to
stderr, the markdown table to stdout. Best run as root (for /proc/PID/clear_refs and a
niced probe) on an otherwise idle box with 2+ cores; RLIMIT_NOFILE is raised to its hard
limit.
"""
import argparse
import json
import math
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

MIB = 1024 * 1024
RSS_LIMIT_KIB = 3 * 1024 * 1024  # 3 GiB: the server is killed past this
TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8
TCP_STATES = {"01": "ESTABLISHED", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
              "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0B": "CLOSING", None: "gone"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROBE_INTERVAL = 0.010

FULL = dict(baseline_s=10, after_s=5, cap_s=30,
            who_n=1000, who_bytes=250_000, rooms_n=3000, rooms_bytes=14_000,
            join_n=2000, join_bytes=240_000, nr_s=20, pm_s=20,
            drip_n=1000, drip_s=15, undecided_n=50, undecided_s=15, flood_s=10,
            sigterm_n=1000, sigterm_cap_s=10)
QUICK = dict(baseline_s=3, after_s=2, cap_s=10,
             who_n=200, who_bytes=250_000, rooms_n=500, rooms_bytes=14_000,
             join_n=300, join_bytes=40_000, nr_s=4, pm_s=4,
             drip_n=200, drip_s=4, undecided_n=50, undecided_s=13, flood_s=3,
             sigterm_n=200, sigterm_cap_s=10)

ATTACKS = ["baseline", "who", "rooms", "join", "join-announced", "join-distinct", "never-reader", "never-reader-pm",
           "drip-64k", "drip-100", "undecided", "flood-2b", "sigterm"]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc


def proc_status(pid):
    """VmRSS and VmHWM in KiB, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for key in ("VmRSS", "VmHWM"):
        m = re.search(rf"^{key}:\s+(\d+)", text, re.M)
        out[key] = int(m.group(1)) if m else None
    return out if out["VmRSS"] is not None else None


def cpu_seconds(pid):
    """utime + stime of the process in seconds, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def reset_hwm(pid):
    """Resets VmHWM to the current RSS (Linux >= 4.0, needs write access to clear_refs)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def tcp_state(sock):
    """(tcpi_state, SO_ERROR) without reading anything from the socket."""
    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        return state, err
    except OSError:
        return TCP_CLOSE, -1


# ---------------------------------------------------------------- server


class Server:
    """A fresh `BIN serve 127.0.0.1:0` pinned to CPU 0, watched every 50 ms."""

    def __init__(self, binary, flags=()):
        self.errfile = tempfile.TemporaryFile()
        self.redis = None
        env = None
        if CLUSTER:
            self.redis = start_redis()
            flags = [*flags, "--cluster", f"redis://127.0.0.1:{self.redis.port}", "--node-name", "attacked"]
            env = dict(os.environ, RUST_LOG="info")
        cmd = [binary, "serve", "127.0.0.1:0", *flags]
        pre = None
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", "0", *cmd]
        else:
            def pre():
                os.sched_setaffinity(0, {0})
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.errfile, preexec_fn=pre, env=env)
        self.pid = self.proc.pid  # taskset execs the binary: same pid
        self.port = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.errfile.seek(0)
            log_so_far = self.errfile.read()
            m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", log_so_far)
            if m and (not CLUSTER or b"cluster link up" in log_so_far):
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        if self.port is None:
            self.kill()
            raise RuntimeError(f"server did not start: {self.stderr_text()[-500:]!r}")
        self.samples = []  # (monotonic, VmRSS KiB)
        self.dead = False
        self.oom_killed_at = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        while not self._stop.is_set():
            st = proc_status(self.pid)
            now = time.monotonic()
            if st is None or self.proc.poll() is not None:
                self.dead = True
                return
            self.samples.append((now, st["VmRSS"]))
            if st["VmRSS"] > RSS_LIMIT_KIB and self.oom_killed_at is None:
                self.oom_killed_at = now
                os.kill(self.pid, signal.SIGKILL)
                log(f"server RSS {st['VmRSS'] // 1024} MiB > 3 GiB: killed")
                self.dead = True
                return
            self._stop.wait(0.05)

    def stderr_text(self):
        self.errfile.seek(0)
        return self.errfile.read().decode(errors="replace")

    def status(self):
        return proc_status(self.pid)

    def cpu(self):
        return cpu_seconds(self.pid)

    def kill(self):
        if self.proc.poll() is None:
            try:
                self.proc.terminate()
                self.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.dead = True
        if hasattr(self, "_stop"):
            self._stop.set()
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait(5)
            self.redis = None


CLUSTER = False  # --cluster: every server shares a chat through its own redis-server


def start_redis():
    """A private `redis-server` on a free loopback port, pinned to CPU 0 (with the server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(["taskset", "-c", "0", "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    proc.port = port
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise RuntimeError("redis-server did not start")


# ---------------------------------------------------------------- client sockets


class Conn:
    __slots__ = ("sock", "name", "read", "keep", "greedy", "rx", "head", "tail", "data",
                 "out", "out_len", "sent", "events", "closed_at", "close_why", "refill",
                 "paused", "opened_at", "first_rx_at")

    def __init__(self, sock, name, read, keep):
        self.sock, self.name, self.read, self.keep = sock, name, read, keep
        self.greedy = False
        self.rx = 0               # bytes received
        self.head = bytearray()   # first 4 KiB received, always kept
        self.tail = b""           # last 300 bytes received
        self.data = bytearray()   # everything received, when keep
        self.out = []             # pending memoryviews
        self.out_len = 0
        self.sent = 0             # bytes written to the kernel
        self.events = 0
        self.closed_at = None
        self.close_why = None
        # called when out runs dry: a flooder's source; returns None when done for good,
        # b"" for "not now" (asked again after the next read)
        self.refill = None
        self.paused = False
        self.opened_at = time.monotonic()
        self.first_rx_at = None

    @property
    def closed(self):
        return self.closed_at is not None


class Net:
    """All the script's client sockets, non-blocking, in one selectors loop."""

    def __init__(self, server):
        self.server = server
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.cpu_hist = []  # (monotonic, server cpu s), every 100 ms while running
        self.rx_total = 0   # bytes received over all our connections

    # -- connections

    def connect(self, init=b"\n", name="", read=True, keep=False, rcvbuf=None, timeout=5.0):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        # every write goes out at once (a drip byte must not wait for the previous ACK)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", self.server.port))
        except OSError:
            s.close()
            raise
        s.setblocking(False)
        c = Conn(s, name, read, keep)
        self.conns.append(c)
        self._update(c)
        if init:
            self.send(c, init)
        return c

    def _update(self, c):
        want = 0
        if not c.closed:
            if c.read:
                want |= selectors.EVENT_READ
            if c.out or (c.refill and not c.paused):
                want |= selectors.EVENT_WRITE
        if want == c.events:
            return
        if c.events == 0:
            self.sel.register(c.sock, want, c)
        elif want == 0:
            self.sel.unregister(c.sock)
        else:
            self.sel.modify(c.sock, want, c)
        c.events = want

    def mark_closed(self, c, why):
        if c.closed:
            return
        c.closed_at = time.monotonic()
        c.close_why = why
        c.out, c.out_len, c.refill = [], 0, None
        self._update(c)

    def send(self, c, data):
        if c.closed:
            return
        c.out.append(memoryview(data))
        c.out_len += len(data)
        self._flush(c)

    def _flush(self, c):
        while not c.closed:
            if not c.out:
                if c.refill is None:
                    break
                chunk = c.refill(c)
                if chunk is None:
                    c.refill = None
                    break
                if not chunk:
                    c.paused = True
                    break
                c.out.append(memoryview(chunk))
                c.out_len += len(chunk)
            buf = c.out[0]
            try:
                n = c.sock.send(buf)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:  # ConnectionResetError, BrokenPipeError, ...
                self.mark_closed(c, f"send: {e.__class__.__name__}")
                return
            c.sent += n
            c.out_len -= n
            if n == len(buf):
                c.out.pop(0)
            else:
                c.out[0] = buf[n:]
                break
        self._update(c)

    def _read(self, c):
        for _ in range(16 if c.greedy else 1):
            try:
                chunk = c.sock.recv(1 << 20 if c.greedy else 1 << 18)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                self.mark_closed(c, f"recv: {e.__class__.__name__}")
                return
            if not chunk:
                self.mark_closed(c, "eof")
                return
            if c.first_rx_at is None:
                c.first_rx_at = time.monotonic()
            c.rx += len(chunk)
            self.rx_total += len(chunk)
            if len(c.head) < 4096:
                c.head += chunk[:4096 - len(c.head)]
            c.tail = (c.tail + chunk[-300:])[-300:]
            if c.keep:
                c.data += chunk
        if c.refill and c.paused and not c.closed:
            c.paused = False
            self._flush(c)

    # -- the loop

    def poll(self, timeout):
        if not self.sel.get_map():
            time.sleep(max(0.0, timeout))
            events = []
        else:
            events = self.sel.select(max(0.0, timeout))
        for key, mask in events:
            c = key.data
            if mask & selectors.EVENT_READ and not c.closed:
                self._read(c)
            if mask & selectors.EVENT_WRITE and not c.closed:
                self._flush(c)
        now = time.monotonic()
        if not self.cpu_hist or now - self.cpu_hist[-1][0] >= 0.1:
            cpu = self.server.cpu()
            if cpu is not None:
                self.cpu_hist.append((now, cpu))

    def run(self, seconds=None, until=None, deadline=None, tick=0.02):
        """Runs the loop until `until()` is true, or the deadline; True if `until` said so."""
        if deadline is None:
            deadline = time.monotonic() + (seconds if seconds is not None else 3600)
        while True:
            if until is not None and until():
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            self.poll(min(tick, deadline - now))

    def quiet_for(self, window=1.0, cpu_max=0.03, since=None):
        """Has the server used at most cpu_max CPU seconds over the last `window` seconds
        (all of them after `since`)?"""
        if self.server.dead:
            return True
        if not self.cpu_hist:
            return False
        now_t, now_cpu = self.cpu_hist[-1]
        for t, cpu in reversed(self.cpu_hist):
            if since is not None and t < since:
                return False
            if now_t - t >= window:
                return now_cpu - cpu <= cpu_max
        return False

    def wait_quiet(self, window=0.5, cpu_max=0.02, max_wait=5.0):
        return self.run(max_wait, until=lambda: self.quiet_for(window, cpu_max))

    def close_all(self):
        for c in self.conns:
            try:
                if c.events:
                    self.sel.unregister(c.sock)
            except (KeyError, ValueError, OSError):
                pass
            c.sock.close()
        self.conns = []
        self.sel.close()

    # -- helpers

    def request(self, payload, done, timeout=3.0):
        """A fresh keep-everything connection sending `payload`; runs until done(conn)."""
        try:
            c = self.connect(payload, name="ctl", keep=True, timeout=min(timeout, 3.0))
        except OSError as e:
            return None, f"connect: {e.__class__.__name__}"
        ok = self.run(timeout, until=lambda: done(c) or c.closed)
        return c, ("ok" if ok and not c.closed else (c.close_why or "timeout"))

    def stats(self, timeout=3.0):
        """/stats from a fresh connection: dict of counters, or None."""
        c, _ = self.request(b"\n/stats\n",
                            lambda c: re.search(rb"\* stats:[^\n]*\n", c.data) is not None,
                            timeout)
        if c is None:
            return None
        m = re.search(rb"\* stats:([^\n]*)\n", bytes(c.data))
        self.drop(c)
        return parse_stats(m.group(1).decode()) if m else None

    def drop(self, c):
        """Closes one of our connections (a control connection we are done with)."""
        self.mark_closed(c, "closed by us")
        try:
            c.sock.close()
        except OSError:
            pass
        self.conns.remove(c)

    def open_many(self, n, init_for, batch=100, name="idle", total=40.0):
        """n line clients (`init_for(i)` is what each sends first), in batches, each batch
        waited for until every one of them got its welcome; all within `total` seconds."""
        conns = []
        deadline = time.monotonic() + total
        for start in range(0, n, batch):
            fresh = []
            for i in range(start, min(n, start + batch)):
                fresh.append(self.connect(init_for(i), name=name))
            self.run(deadline=deadline,
                     until=lambda: all(c.rx > 0 or c.closed for c in fresh) or self.server.dead)
            conns += fresh
            if self.server.dead:
                raise RuntimeError("server died while clients were connecting")
            if time.monotonic() >= deadline:
                raise RuntimeError(f"only {len(conns)} of {n} clients welcomed within "
                                   f"{total:.0f} s")
        return conns


def parse_stats(line):
    out = {}
    for key, rx in (("clients", r"clients (\d+)"), ("connecting", r"connecting (\d+)"),
                    ("rooms", r"rooms (\d+)"), ("relayed", r"messages relayed (\d+)"),
                    ("bytes_out", r"bytes out (\d+)"),
                    ("slow_dropped", r"slow clients dropped (\d+)")):
        m = re.search(rx, line)
        out[key] = int(m.group(1)) if m else None
    return out


# ---------------------------------------------------------------- the probe


def probe_child(port):
    """Runs in a child process: sender and receiver in room `watch`; stdin EOF stops it;
    then one JSON line on stdout."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -10)  # measure the server, not our scheduling
    except OSError:
        pass

    def join_watch():
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle/delayed-ACK waits
        s.sendall(b"\n/join watch\n")
        buf, nick = b"", None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError(f"closed during set-up: {buf[-200:]!r}")
            buf += chunk
            if nick is None:
                m = re.search(rb"you are (\S+);", buf)
                if m:
                    nick = m.group(1)
            if nick is not None and re.search(rb"(^|\n)\* " + re.escape(nick) + rb" joined\n",
                                              buf):
                s.setblocking(False)
                return s, nick
        raise RuntimeError(f"no join within 10 s: {buf[-200:]!r}")

    try:
        rx, _ = join_watch()
        tx, _ = join_watch()
    except Exception as e:  # noqa: BLE001 - reported to the parent
        print("FAIL " + repr(e), flush=True)
        return
    print("READY", flush=True)

    sel = selectors.DefaultSelector()
    sel.register(rx, selectors.EVENT_READ, "rx")
    sel.register(tx, selectors.EVENT_READ, "tx")
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
    sent, recv, errors = [], [], []
    pending = b""
    tx_events = selectors.EVENT_READ
    rxbuf = b""
    max_seq, reordered, dups = -1, 0, 0
    seen = set()
    tx_dead = False
    line_rx = re.compile(rb"^[^:\n]+: P (\d+) (\d+)$")
    next_t = time.monotonic()
    while True:
        timeout = max(0.0, next_t - time.monotonic()) if not tx_dead else 1.0
        stop = False
        for key, mask in sel.select(timeout):
            if key.data == "stdin":
                if not os.read(0, 4096):
                    stop = True
            elif key.data == "rx":
                try:
                    chunk = rx.recv(1 << 18)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    chunk, why = b"", repr(e)
                else:
                    why = "eof"
                now_ns = time.monotonic_ns()
                if not chunk:
                    errors.append(f"receiver closed ({why}) at {now_ns}")
                    sel.unregister(rx)
                    continue
                rxbuf += chunk
                *lines, rxbuf = rxbuf.split(b"\n")
                for line in lines:
                    m = line_rx.match(line)
                    if not m:
                        continue
                    seq = int(m.group(1))
                    if seq in seen:
                        dups += 1
                        continue
                    seen.add(seq)
                    if seq < max_seq:
                        reordered += 1
                    max_seq = max(max_seq, seq)
                    recv.append((seq, now_ns))
            elif key.data == "tx":
                if mask & selectors.EVENT_READ:
                    try:
                        if not tx.recv(1 << 16):
                            raise ConnectionResetError("eof")
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError as e:
                        errors.append(f"sender closed ({e!r}) at {time.monotonic_ns()}")
                        sel.unregister(tx)
                        tx_dead = True
                        continue
                if mask & selectors.EVENT_WRITE and pending:
                    try:
                        n = tx.send(pending)
                        pending = pending[n:]
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError as e:
                        errors.append(f"sender closed ({e!r}) at {time.monotonic_ns()}")
                        sel.unregister(tx)
                        tx_dead = True
        if stop:
            break
        now = time.monotonic()
        if not tx_dead and now >= next_t:
            ns = time.monotonic_ns()
            line = f"P {len(sent)} {ns}\n".encode()
            sent.append(ns)
            if pending:
                pending += line
            else:
                try:
                    n = tx.send(line)
                    pending = line[n:]
                except (BlockingIOError, InterruptedError):
                    pending = line
                except OSError as e:
                    errors.append(f"sender closed ({e!r}) at {ns}")
                    sel.unregister(tx)
                    tx_dead = True
            next_t += PROBE_INTERVAL
            if next_t < now:  # we fell behind: no burst to catch up
                next_t = now + PROBE_INTERVAL
        if not tx_dead:
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0)
            if want != tx_events:
                sel.modify(tx, want, "tx")
                tx_events = want
    print(json.dumps({"sent": sent, "recv": recv, "reordered": reordered, "dups": dups,
                      "errors": errors}), flush=True)


class Probe:
    def __init__(self, port):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--probe-child", str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.result = None
        line = b""
        deadline = time.monotonic() + 12
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n") and time.monotonic() < deadline:
            if sel.select(0.1):
                b = os.read(self.proc.stdout.fileno(), 1)
                if not b:
                    break
                line += b
        sel.close()
        if line.strip() != b"READY":
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"probe did not start: {line.strip().decode(errors='replace')}")

    def stop(self):
        if self.result is not None:
            return self.result
        try:
            out, _ = self.proc.communicate(b"", timeout=10)
            self.result = json.loads(out.decode().strip().splitlines()[-1])
        except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
            self.proc.kill()
            self.proc.wait()
            self.result = {"sent": [], "recv": [], "reordered": 0, "dups": 0,
                           "errors": [f"probe result lost: {e!r}"]}
        return self.result


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    i = max(0, min(len(sorted_vals) - 1, math.ceil(p * len(sorted_vals)) - 1))
    return sorted_vals[i]


def probe_window(result, t0_ns, t1_ns):
    """Latency of the probe lines sent in [t0_ns, t1_ns]."""
    got = dict(result["recv"])
    lat, sent, lost = [], 0, 0
    for seq, ns in enumerate(result["sent"]):
        if t0_ns <= ns <= t1_ns:
            sent += 1
            if seq in got:
                lat.append((got[seq] - ns) / 1e6)
            else:
                lost += 1
    lat.sort()
    return {"sent": sent, "received": len(lat), "lost": lost,
            "p50_ms": pct(lat, 0.50), "p99_ms": pct(lat, 0.99),
            "max_ms": lat[-1] if lat else None,
            "reordered_total": result.get("reordered", 0), "dups_total": result.get("dups", 0),
            "errors": result.get("errors", [])}


# ---------------------------------------------------------------- one attack


class Ctx:
    """One attack: a fresh server, the probe, our sockets, and the measurements."""

    def __init__(self, name, binary, cfg, flags=()):
        self.name, self.binary, self.cfg = name, binary, cfg
        self.res = {"attack": name, "notes": []}
        self.server = Server(binary, flags)
        self.net = Net(self.server)
        self.probe = None
        self.t0 = self.t1 = None
        self.finalizers = []

    def note(self, text):
        self.res["notes"].append(text)
        log(f"{self.name}: {text}")

    def start_probe(self):
        self.probe = Probe(self.server.port)

    def begin(self, quiet=True):
        """The attack window opens now (once the server is idle, unless quiet=False)."""
        if quiet:
            self.net.wait_quiet(max_wait=5.0)
        st = self.server.status() or {}
        self.res["rss_before_kib"] = st.get("VmRSS")
        self.res["hwm_reset"] = reset_hwm(self.server.pid)
        self.res["cpu_before_s"] = self.server.cpu()
        self.t0 = time.monotonic()
        self.t0_ns = time.monotonic_ns()

    def end(self):
        """The attack window closes now."""
        self.t1 = time.monotonic()
        self.t1_ns = time.monotonic_ns()
        cpu = self.server.cpu()
        if cpu is None and self.net.cpu_hist:
            cpu = self.net.cpu_hist[-1][1]  # the server died: its last reading
        self.res["cpu_s"] = (cpu - self.res["cpu_before_s"]) if (
            cpu is not None and self.res.get("cpu_before_s") is not None) else None
        self.res["window_s"] = self.t1 - self.t0
        st = self.server.status() or {}
        self.res["hwm_at_end_kib"] = st.get("VmHWM")

    def after(self):
        """~after_s later, with the probe still chatting: RSS after, /stats."""
        if not self.server.dead:
            self.net.run(self.cfg["after_s"], until=lambda: self.server.dead)
        st = self.server.status() or {}
        self.res["rss_after_kib"] = st.get("VmRSS")
        self.res["hwm_after_kib"] = st.get("VmHWM")
        if not self.server.dead:
            self.res["stats_after"] = self.net.stats(timeout=5.0)

    def series(self, step=1.0):
        """RSS (MiB) about every `step` seconds from the window start to its end."""
        out, nxt = [], self.t0
        for t, rss in self.server.samples:
            if t < self.t0 or t > (self.t1 or time.monotonic()) + 0.06:
                continue
            if t >= nxt:
                out.append((round(t - self.t0, 2), round(rss / 1024, 1)))
                nxt += step
        return out

    def finish(self):
        res = self.res
        if self.t0 is not None and self.t1 is None:
            self.end()
        if self.probe is not None:
            result = self.probe.stop()
            if self.t0 is not None:
                res["probe"] = probe_window(result, self.t0_ns, self.t1_ns)
        for fn in self.finalizers:
            try:
                fn()
            except Exception as e:  # noqa: BLE001
                self.note(f"finalizer failed: {e!r}")
        before = res.get("rss_before_kib")
        peaks = [s[1] for s in self.server.samples if self.t0 and s[0] >= self.t0]
        for key in ("hwm_at_end_kib", "hwm_after_kib"):
            if res.get(key) is not None and res.get("hwm_reset"):
                peaks.append(res[key])
        res["peak_kib"] = max(peaks) if peaks else None
        res["rss_limit_hit"] = self.server.oom_killed_at is not None
        if res["rss_limit_hit"]:
            res["oom_after_s"] = self.server.oom_killed_at - (self.t0 or 0)
        res["peak_increase_mib"] = ((res["peak_kib"] - before) / 1024
                                    if res["peak_kib"] is not None and before is not None
                                    else None)
        res["rss_after_mib"] = (res["rss_after_kib"] / 1024
                                if res.get("rss_after_kib") is not None else None)
        self.server.kill()
        res["server_exit"] = self.server.proc.returncode
        self.net.close_all()
        if self.probe is not None and self.probe.proc.poll() is None:
            self.probe.proc.kill()
        return res


def run_attack(name, fn, binary, cfg, flags=()):
    log(f"--- {name}")
    t = time.monotonic()
    ctx = None
    try:
        ctx = Ctx(name, binary, cfg, flags)
        ctx.start_probe()
        fn(ctx)
        if ctx.t1 is None and ctx.t0 is not None:
            ctx.end()
        if ctx.t0 is not None:
            ctx.after()
    except Exception as e:  # noqa: BLE001 - one failed attack must not stop the others
        import traceback
        traceback.print_exc()
        if ctx is None:
            return {"attack": name, "notes": [], "error": repr(e)}
        ctx.res["error"] = repr(e)
    finally:
        if ctx is not None:
            ctx.finish()
    if ctx.server.oom_killed_at is not None:
        ctx.res["notes"].insert(0, "server killed: RSS > 3 GiB after "
                                f"{ctx.res['oom_after_s']:.1f} s")
    ctx.res["total_s"] = time.monotonic() - t
    log(f"{name}: done in {ctx.res['total_s']:.1f} s")
    return ctx.res


# ---------------------------------------------------------------- the attacks


def server_side_state(server_port, client_port):
    """The TCP state (hex string, e.g. '01' established, '04' FIN_WAIT1) of the server's
    end of the connection from client_port, from /proc/net/tcp; None if it is gone."""
    key = f":{server_port:04X} 0100007F:{client_port:04X} "
    try:
        with open("/proc/net/tcp") as f:
            text = f.read()
    except OSError:
        return "??"
    i = text.find(key)
    return text[i + len(key):i + len(key) + 2] if i >= 0 else None


def server_tx_queue(server_port, client_port):
    """Bytes in the kernel send queue of the server's end of the connection from
    client_port (/proc/net/tcp tx_queue), or None if it is gone."""
    key = f":{server_port:04X} 0100007F:{client_port:04X} "
    try:
        with open("/proc/net/tcp") as f:
            text = f.read()
    except OSError:
        return None
    i = text.find(key)
    if i < 0:
        return None
    return int(text[i + len(key) + 3:i + len(key) + 11], 16)


def fill_kernel_buffers(ctx, filler, victim, max_bytes=16 * MIB):
    """Makes `victim` (a never-reader in the filler's room) really blocked: `filler` chats
    1000-byte lines in 64 KiB steps until the server's kernel send queue towards the victim
    stops growing (full), so the server itself must queue whatever comes next. Returns
    (bytes chatted, kernel bytes queued towards the victim)."""
    net = ctx.net
    step = (b"f" * 999 + b"\n") * 64
    port = victim.sock.getsockname()[1]
    last, flat, total = -1, 0, 0
    while total < max_bytes and flat < 3 and not victim.closed and not ctx.server.dead:
        net.send(filler, step)
        total += len(step)
        net.run(2.0, until=lambda: filler.out_len == 0)
        net.wait_quiet(0.1, 0.0, max_wait=1.0)
        q = server_tx_queue(ctx.server.port, port)
        if q is None:
            break
        flat = flat + 1 if q <= last else 0
        last = max(last, q)
    return total, last


def watch_drop(ctx, c):
    """Returns until(): true once connection c was closed by the server; records when in
    c.closed_at. Nothing is read from c: a never-reader's full receive window also holds
    back the server's FIN, so our end's TCP_INFO may say ESTABLISHED long after the server
    closed; the server's end, in /proc/net/tcp, says FIN_WAIT1 (or is gone) at once."""
    client_port = c.sock.getsockname()[1]
    last = [0.0]

    def check():
        now = time.monotonic()
        if c.closed or now - last[0] < 0.05:
            return c.closed
        last[0] = now
        state, err = tcp_state(c.sock)
        if state in (TCP_CLOSE, TCP_CLOSE_WAIT) or err:
            ctx.net.mark_closed(c, "reset" if state == TCP_CLOSE or err else "fin")
        elif not ctx.server.dead:
            srv = server_side_state(ctx.server.port, client_port)
            if srv != "01":  # ESTABLISHED
                ctx.net.mark_closed(c, f"server closed (server end {TCP_STATES.get(srv, srv)})")
        return c.closed
    return check


def read_leftover(ctx, c, max_s=2.0, max_bytes=1 << 30):
    """After the measurement: reads what a never-reader was sent (count + tail)."""
    n, tail, how = 0, b"", "timeout"
    c.sock.setblocking(True)
    deadline = time.monotonic() + max_s
    while n < max_bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        c.sock.settimeout(min(left, 0.5))
        try:
            chunk = c.sock.recv(1 << 20)
        except socket.timeout:
            if ctx.server.dead:
                how = "server gone"
                break
            continue
        except OSError as e:
            how = e.__class__.__name__
            break
        if not chunk:
            how = "eof"
            break
        n += len(chunk)
        tail = (tail + chunk)[-300:]
    return n, tail, how


def lobby_attack(ctx, n, payload, label, idle_init=None):
    """n idle readers, then an attacker that writes payload once and never reads."""
    net, cfg = ctx.net, ctx.cfg
    log(f"{ctx.name}: opening {n} clients")
    idle = net.open_many(n, idle_init or (lambda i: b"\n"))
    st = net.stats(5.0) or {}
    ctx.res["clients_before"] = st.get("clients")
    ctx.note(f"{st.get('clients')} clients before the attack")
    attacker = net.connect(b"\n", name="attacker", read=False)
    net.run(0.3)
    ctx.begin()
    net.send(attacker, payload)
    dropped = watch_drop(ctx, attacker)
    rx0 = sum(c.rx for c in idle)

    def done():
        if dropped() or ctx.server.dead:
            return True
        # all written and the server idle for a second: it is over
        return attacker.out_len == 0 and net.quiet_for(1.0, 0.03, since=ctx.t0)
    net.run(deadline=ctx.t0 + cfg["cap_s"], until=done)
    ctx.end()
    ctx.res["attacker_written"] = attacker.sent
    ctx.res["attacker_dropped_after_s"] = (attacker.closed_at - ctx.t0) if attacker.closed else None
    ctx.res["idle_dropped"] = sum(1 for c in idle if c.closed)
    ctx.res["idle_rx_bytes"] = sum(c.rx for c in idle) - rx0
    if attacker.closed:
        ctx.note(f"attacker dropped after {ctx.res['attacker_dropped_after_s']:.2f} s "
                 f"({attacker.close_why}; {attacker.sent // 1000} of {len(payload) // 1000} KB"
                 f" written)")
    elif ctx.server.dead:
        ctx.note("server died")
    else:
        ctx.note(f"attacker NOT dropped in {ctx.res['window_s']:.1f} s "
                 f"({attacker.sent // 1000} of {len(payload) // 1000} KB written)")
    ctx.note(f"{label} received {ctx.res['idle_rx_bytes'] / MIB:.1f} MiB in the window")
    if ctx.res["idle_dropped"]:
        ctx.note(f"{ctx.res['idle_dropped']} of {n} {label} dropped")

    def leftover():
        if ctx.server.dead:
            return
        got, tail, how = read_leftover(ctx, attacker)
        how = "still open" if how == "timeout" else how
        ctx.res["attacker_rx_bytes"] = got
        slow = re.search(rb"! disconnected: too slow \((\d+) bytes queued\)", tail)
        ctx.res["attacker_told_slow"] = bool(slow)
        ctx.note(f"attacker got {got / MIB:.2f} MiB ({how})"
                 + (f", told too slow ({int(slow.group(1)) // 1024} KiB queued)" if slow else ""))
    # after the 5 s 'after' phase, before the server is killed
    ctx.finalizers.insert(0, leftover)


def a_baseline(ctx):
    ctx.begin()
    ctx.net.run(ctx.cfg["baseline_s"])
    ctx.end()


def a_who(ctx):
    n = ctx.cfg["who_n"]
    payload = b"/who\n" * (ctx.cfg["who_bytes"] // 5)
    lobby_attack(ctx, n, payload, "lobby members")


def a_rooms(ctx):
    n = ctx.cfg["rooms_n"]
    payload = b"/rooms\n" * (ctx.cfg["rooms_bytes"] // 7)
    lobby_attack(ctx, n, payload, "room owners",
                 idle_init=lambda i: f"\n/join r{i}\n".encode())


def a_join(ctx):
    n = ctx.cfg["join_n"]
    pair = b"/join x\n/join lobby\n"
    payload = pair * (ctx.cfg["join_bytes"] // len(pair))
    lobby_attack(ctx, n, payload, "lobby members")


def a_join_distinct(ctx):
    """A storm of joins, each to a room nobody has: with --cluster, every one is a new
    room channel to subscribe (and, once left, to unsubscribe)."""
    n = ctx.cfg["join_n"]
    payload = b"".join(f"/join r{i}\n".encode() for i in range(ctx.cfg["join_bytes"] // 12))
    lobby_attack(ctx, n, payload, "lobby members")


def a_never_reader(ctx):
    net, cfg = ctx.net, ctx.cfg
    quiet = net.connect(b"\n/join quiet\n", name="never-reader", read=False, rcvbuf=4096)
    poster = net.connect(b"\n/join quiet\n", name="poster")
    net.run(0.5)
    # A never-reader only costs memory once the kernel's buffers towards it are full and
    # the server queues for it: fill them, then post a short line every tick meanwhile.
    filled, kq = fill_kernel_buffers(ctx, poster, quiet)
    ctx.note(f"never-reader pre-filled: {filled // 1024} KiB chatted, kernel holds {kq // 1024}"
             " KiB; then a line every 5 ms while the busy room floods")
    secs = cfg["nr_s"]
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    ctx.begin()
    bench = subprocess.Popen(
        [ctx.binary, "bench", f"127.0.0.1:{ctx.server.port}", "--room", "busy",
         "--clients", "10", "--senders", "2", "--size", "4096", "--duration", str(secs),
         "--json"],
        stdin=subprocess.DEVNULL, stdout=out, stderr=err)
    dropped = watch_drop(ctx, quiet)

    last_post = [0.0]

    def post_and_check():
        dropped()
        now = time.monotonic()
        if not poster.closed and now - last_post[0] >= 0.005:
            net.send(poster, b"hi\n")
            last_post[0] = now
        return bench.poll() is not None or ctx.server.dead
    net.run(deadline=ctx.t0 + secs + 20, until=post_and_check)
    if bench.poll() is None:
        bench.kill()
        ctx.note("bench overran: killed")
    bench.wait()
    ctx.end()
    dropped()
    series = ctx.series()
    ctx.res["rss_series_mib"] = series
    if series:
        ctx.note(f"RSS start {series[0][1]:.0f}, peak {max(s[1] for s in series):.0f}, "
                 f"end {series[-1][1]:.0f} MiB")
    out.seek(0)
    try:
        rep = json.loads(out.read().decode().strip().splitlines()[-1])
        ctx.res["bench"] = rep
        ctx.note(f"bench: {rep.get('deliveries_per_s', 0):.0f} deliveries/s, lost "
                 f"{rep.get('lost')}, p99 {rep.get('latency_p99_us')} us")
    except (ValueError, IndexError):
        err.seek(0)
        ctx.note(f"bench exit {bench.returncode}: {err.read().decode(errors='replace')[-200:]!r}")
    ctx.res["never_reader_dropped"] = quiet.closed
    ctx.note("never-reader " + ("dropped" if quiet.closed else "kept"))

    def slow():
        st = ctx.res.get("stats_after") or {}
        ctx.note(f"slow clients dropped {st.get('slow_dropped')}")
    ctx.finalizers.append(slow)


def a_never_reader_pm(ctx):
    net, cfg = ctx.net, ctx.cfg
    quiet = net.connect(b"\n", name="never-reader", read=False, rcvbuf=4096)
    sender = net.connect(b"\n/nick self\n", name="sender", keep=False)
    sender.greedy = True
    net.run(3.0, until=lambda: b"is now self" in sender.head)
    if b"is now self" not in sender.head:
        ctx.note(f"/nick self not confirmed: {bytes(sender.head[-200:])!r}")
    # The server's kernel send buffer towards the never-reader holds MBs (loopback autotuning,
    # whatever our SO_RCVBUF), i.e. ~300k `self: hi` lines: fill it first, so that the loop
    # below works on a never-reader the server really has to queue for.
    filled, kq = fill_kernel_buffers(ctx, sender, quiet)
    ctx.res["prefill_bytes"] = filled
    ctx.res["prefill_kernel_queue"] = kq
    ctx.note(f"never-reader pre-filled: {filled // 1024} KiB chatted, kernel holds {kq // 1024}"
             " KiB")
    unit = b"/msg self " + b"x" * 60000 + b"\nhi\n"
    # what one unit brings back to the sender: `[pm to self] x..` and `[pm from self] x..`
    reply = len(b"[pm to self] \n[pm from self] \n") + 2 * 60000
    window = 512 * 1024  # replies not yet read, at most: well under the 1 MiB backlog
    ctx.begin()
    rx0, units = sender.rx, [0]

    def refill(c):
        if units[0] * reply - (c.rx - rx0) > window:
            return b""  # wait for our replies: as fast as it goes without being slow
        units[0] += 1
        return unit
    sender.refill = refill
    net._flush(sender)
    dropped = watch_drop(ctx, quiet)
    net.run(deadline=ctx.t0 + cfg["pm_s"],
            until=lambda: (dropped() and False) or ctx.server.dead or sender.closed)
    sender.refill = None
    ctx.end()
    dropped()
    series = ctx.series()
    ctx.res["rss_series_mib"] = series
    msgs = sender.sent // len(unit)
    ctx.res["pm_sent"] = msgs
    ctx.res["sender_rx_bytes"] = sender.rx
    if series:
        ctx.note(f"RSS start {series[0][1]:.0f}, peak {max(s[1] for s in series):.0f}, "
                 f"end {series[-1][1]:.0f} MiB")
    ctx.note(f"{msgs} pm+hi sent ({sender.sent / MIB:.0f} MiB), sender read "
             f"{sender.rx / MIB:.0f} MiB")
    if sender.closed:
        said = [ln for ln in sender.tail.split(b"\n") if ln.startswith(b"!")]
        ctx.note(f"sender closed after {sender.closed_at - ctx.t0:.1f} s ({sender.close_why})"
                 + (f": {said[-1].decode(errors='replace')}" if said else ""))
    ctx.res["never_reader_dropped_after_s"] = (quiet.closed_at - ctx.t0) if quiet.closed else None
    ctx.note("never-reader " + (f"dropped after {quiet.closed_at - ctx.t0:.1f} s"
                                if quiet.closed else "NOT dropped"))


def drip(ctx, partial_len):
    net, cfg = ctx.net, ctx.cfg
    n, secs = cfg["drip_n"], cfg["drip_s"]
    log(f"{ctx.name}: opening {n} clients, {partial_len} bytes of a line each")
    conns = net.open_many(n, lambda i: f"\n/join d{i}\n".encode() + b"y" * partial_len)
    net.run(20, until=lambda: all(c.out_len == 0 or c.closed for c in conns))
    unsent = sum(c.out_len for c in conns)
    if unsent:
        ctx.note(f"{unsent} bytes of the partial lines still unsent")
    ctx.begin()  # waits until the server has read them all (quiet)
    dripped = blocked = 0
    end = ctx.t0 + secs
    nxt = ctx.t0
    rx0, first_answer = net.rx_total, None
    while not ctx.server.dead:
        now = time.monotonic()
        if first_answer is None and net.rx_total > rx0:
            # the server said something (`! line too long`): from here on the lines are
            # being discarded, no longer buffered
            first_answer = (now - ctx.t0, ctx.server.cpu(), dripped)
        if now >= end:
            break
        if now >= nxt:
            for c in conns:
                if c.closed:
                    continue
                try:
                    dripped += c.sock.send(b"z")
                except (BlockingIOError, InterruptedError):
                    blocked += 1
                except OSError as e:
                    net.mark_closed(c, f"send: {e.__class__.__name__}")
            nxt += 0.020
            if nxt < now:
                nxt = now + 0.020
        net.poll(max(0.0, min(nxt, end) - time.monotonic()))
    ctx.end()
    ctx.res["dripped_bytes"] = dripped
    ctx.res["drip_blocked"] = blocked
    cpu = ctx.res.get("cpu_s")
    ctx.res["cpu_us_per_byte"] = cpu * 1e6 / dripped if dripped and cpu is not None else None
    if first_answer is not None and first_answer[1] is not None and first_answer[2]:
        t_ans, cpu_ans, dripped_ans = first_answer
        per = (cpu_ans - ctx.res["cpu_before_s"]) * 1e6 / dripped_ans
        ctx.res["before_first_answer"] = {"s": t_ans, "dripped": dripped_ans,
                                          "cpu_us_per_byte": per}
        ctx.note(f"first server answer after {t_ans:.1f} s; before it {per:.2f} us/byte over "
                 f"{dripped_ans} bytes")
    closed = sum(1 for c in conns if c.closed)
    too_long = sum(1 for c in conns if b"line too long" in c.head)
    ctx.note(f"{dripped} bytes dripped, server CPU "
             + (f"{ctx.res['cpu_us_per_byte']:.2f} us/byte" if ctx.res["cpu_us_per_byte"]
                is not None else "?")
             + (f", {blocked} sends would block" if blocked else "")
             + (f", {closed} connections closed" if closed else "")
             + (f", {too_long} told line too long" if too_long else ""))


def a_drip_64k(ctx):
    drip(ctx, 65000)


def a_drip_100(ctx):
    drip(ctx, 100)


def a_undecided(ctx):
    net, cfg = ctx.net, ctx.cfg
    n, secs = cfg["undecided_n"], cfg["undecided_s"]
    undecided = []
    for i in range(n):
        c = net.connect(b"abc"[: 1 + i % 3], name="undecided", keep=True)
        undecided.append(c)
    net.run(0.05)
    ctx.begin(quiet=False)
    attempts = []
    first_in = None
    nxt = ctx.t0
    end = ctx.t0 + secs
    closed_at_12 = None
    while time.monotonic() < end and not ctx.server.dead:
        now = time.monotonic()
        if closed_at_12 is None and now - ctx.t0 >= 12.0:
            closed_at_12 = sum(1 for c in undecided if c.closed)
        if first_in is None and now >= nxt:
            nxt = now + 1.0
            t_try = now - ctx.t0
            c, how = net.request(
                b"\n/stats\n",
                lambda c: re.search(rb"\* stats:[^\n]*\n", bytes(c.data)) is not None
                or b"server full" in c.data, timeout=1.0)
            data = bytes(c.data) if c else b""
            m = re.search(rb"\* stats:([^\n]*)\n", data)
            if m:
                st = parse_stats(m.group(1).decode())
                first_in = t_try
                attempts.append((round(t_try, 2), "in", st))
                ctx.res["newcomer_stats"] = st
            elif b"server full" in data:
                attempts.append((round(t_try, 2), "server full", None))
            else:
                attempts.append((round(t_try, 2), f"no answer ({how})", None))
            if c is not None:
                net.drop(c)
            continue
        net.poll(min(0.05, max(0.0, end - time.monotonic())))
    if closed_at_12 is None:
        closed_at_12 = sum(1 for c in undecided if c.closed)
    ctx.end()
    ctx.res["newcomer_attempts"] = attempts
    ctx.res["newcomer_first_in_s"] = first_in
    if first_in is not None:
        st = ctx.res["newcomer_stats"]
        ctx.note(f"newcomer got in at {first_in:.1f} s (attempt {len(attempts)}; clients "
                 f"{st['clients']}, connecting {st['connecting']})")
    else:
        kinds = sorted({a[1] for a in attempts})
        ctx.note(f"newcomer LOCKED OUT for {secs} s ({len(attempts)} attempts: "
                 f"{', '.join(kinds)})")
    closed = [c.closed_at - c.opened_at for c in undecided if c.closed]
    ctx.res["undecided_closed_at_12s"] = closed_at_12
    ctx.res["undecided_closed"] = len(closed)
    if closed:
        ctx.res["undecided_closed_after_s"] = [min(closed), max(closed)]
        said = sorted({bytes(c.data).strip()[:60].decode(errors="replace") for c in undecided
                       if c.closed})
        ctx.note(f"undecided: {len(closed)}/{n} closed after {min(closed):.1f}-"
                 f"{max(closed):.1f} s ({closed_at_12} by 12 s); told {said}")
    else:
        ctx.note(f"undecided: none closed within {secs} s")


def a_flood_2b(ctx):
    net, cfg = ctx.net, ctx.cfg
    flooder = net.connect(b"\n/join flood\n", name="flooder")
    flooder.greedy = True
    net.run(0.5)
    chunk = b"a\n" * 32768
    ctx.begin()
    flooder.refill = lambda c: chunk
    net._flush(flooder)
    net.run(deadline=ctx.t0 + cfg["flood_s"], until=lambda: flooder.closed or ctx.server.dead)
    flooder.refill = None
    ctx.end()
    lines = flooder.sent // 2
    ctx.res["flood_lines"] = lines
    ctx.note(f"{lines} lines sent ({lines / ctx.res['window_s'] / 1e6:.2f} M/s)"
             + (f"; flooder closed: {flooder.close_why}" if flooder.closed else ""))


def a_sigterm(ctx):
    net, cfg = ctx.net, ctx.cfg
    n = cfg["sigterm_n"]
    log(f"{ctx.name}: opening {n} clients")
    net.open_many(n, lambda i: b"\n")
    attacker = net.connect(b"\n", name="attacker", read=False)
    net.run(0.3)
    ctx.begin()
    net.send(attacker, b"/who\n" * (cfg["who_bytes"] // 5))
    net.run(1.0, until=lambda: ctx.server.dead)
    t_term = time.monotonic()
    os.kill(ctx.server.pid, signal.SIGTERM)
    proc = ctx.server.proc
    cap = cfg["sigterm_cap_s"]
    net.run(cap, until=lambda: proc.poll() is not None)
    ctx.end()
    if proc.poll() is None:
        ctx.res["exit_after_s"] = None
        ctx.note(f"server still running {cap} s after SIGTERM (> {cap} s): SIGKILL")
        proc.kill()
        proc.wait()
    else:
        took = time.monotonic() - t_term
        ctx.res["exit_after_s"] = took
        ctx.note(f"exited {took:.2f} s after SIGTERM (status {proc.returncode})")
    ctx.server.dead = True


FUNCS = {"baseline": a_baseline, "who": a_who, "rooms": a_rooms, "join": a_join,
         "join-announced": a_join, "join-distinct": a_join_distinct,
         "never-reader": a_never_reader, "never-reader-pm": a_never_reader_pm,
         "drip-64k": a_drip_64k, "drip-100": a_drip_100, "undecided": a_undecided,
         "flood-2b": a_flood_2b, "sigterm": a_sigterm}


# ---------------------------------------------------------------- report


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def table(results):
    rows = ["| attack | probe p50 ms | p99 ms | max ms | probe sent/recv (lost) "
            "| peak RSS +MiB | RSS after MiB | server CPU s | note |",
            "|---|---:|---:|---:|---|---:|---:|---:|---|"]
    for r in results:
        p = r.get("probe") or {}
        sent = f"{p.get('sent', '-')}/{p.get('received', '-')} ({p.get('lost', '-')})"
        peak = "> 3 GiB" if r.get("rss_limit_hit") else fmt(r.get("peak_increase_mib"))
        after = "killed" if r.get("rss_limit_hit") else fmt(r.get("rss_after_mib"))
        notes = list(r.get("notes", []))
        st = r.get("stats_after")
        if st and r["attack"] not in ("never-reader",):
            notes.append(f"slow dropped {st.get('slow_dropped')}")
        if r.get("error"):
            notes.append(f"ERROR {r['error']}")
        rows.append(f"| {r['attack']} | {fmt(p.get('p50_ms'))} | {fmt(p.get('p99_ms'))} | "
                    f"{fmt(p.get('max_ms'))} | {sent} | {peak} | {after} | "
                    f"{fmt(r.get('cpu_s'), 2)} | {'; '.join(notes).replace('|', '/')} |")
    return "\n".join(rows)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--probe-child":
        probe_child(int(sys.argv[2]))
        return
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", help="the mio-chat binary to attack")
    ap.add_argument("attacks", nargs="*", help=f"any of: {' '.join(ATTACKS)} (default: all)")
    ap.add_argument("--quick", action="store_true", help="smaller and shorter: a smoke run")
    ap.add_argument("--json", metavar="FILE", help="also write the raw numbers here")
    ap.add_argument("--cluster", action="store_true",
                    help="run each server with --cluster against its own redis-server")
    args = ap.parse_args()
    global CLUSTER
    CLUSTER = args.cluster
    bad = [a for a in args.attacks if a not in FUNCS]
    if bad:
        ap.error(f"unknown attack(s) {bad}; known: {' '.join(ATTACKS)}")
    attacks = args.attacks or ATTACKS
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        ap.error(f"{binary} is not executable")
    cfg = QUICK if args.quick else FULL

    try:
        os.sched_setaffinity(0, {1})
    except OSError as e:
        log(f"could not pin to CPU 1: {e}")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    results = []
    t_all = time.monotonic()
    for name in attacks:
        flags = []
        if name == "undecided":
            # 50 undecided connections fill the server; +2 for the probe's pair
            flags = ["--max-clients", str(cfg["undecided_n"] + 2)]
        if name == "join-announced":
            # The join storm with every arrival and leave announced to the whole lobby, as
            # before --announce-limit (a server without the flag announces them anyway).
            if "--announce-limit" not in subprocess.run([binary, "serve", "--help"],
                                                        capture_output=True, text=True).stdout:
                log("join-announced: this server announces every join; skipped (same as join)")
                continue
            flags = ["--announce-limit", "1000000"]
        results.append(run_attack(name, FUNCS[name], binary, cfg, flags))
    log(f"all done in {time.monotonic() - t_all:.0f} s")
    print(f"\n{binary}{' (--quick)' if args.quick else ''}{' (--cluster)' if args.cluster else ''}\n")
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"binary": binary, "quick": args.quick, "config": cfg,
                       "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
