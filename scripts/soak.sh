#!/usr/bin/env bash
# Soak test: a release `mio-chat serve` under `mio-chat bench` load for SECONDS (default
# 300), with churn (clients joining and leaving the bench's room all the time), a slow
# reader (a client that never reads, reconnecting each time it is dropped) and a flooder
# (64 KiB frames, alone in its room). Prints the server's RSS and fd count every 10 s,
# then one verdict line. Not run by CI.
#
#   scripts/soak.sh [SECONDS]
#   SOAK_SERVER_ARGS="--zero-copy-min 1" scripts/soak.sh 120   # every send spliced
#
# The verdict is PASS when: the bench lost, duplicated and reordered nothing; the
# server is still running; slow readers were dropped (the backlog limit works); RSS in
# the last third of the run is within 10% + 4 MiB of the first third (no leak); and once
# every client has gone, the server's fds are back to their level before the run.
# Exit status: 0 PASS, 1 FAIL, 2 could not start.
set -u

seconds=${1:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# Load: 4 senders at 2000 messages/s in all, 100 receivers, all in room "soak".
CLIENTS=${SOAK_CLIENTS:-100}
SENDERS=${SOAK_SENDERS:-4}
RATE=${SOAK_RATE:-2000}
ROOM=soak

fail_to_start() {
    echo "soak: could not start: $1" >&2
    exit 2
}

(cd "$root" && cargo build --release --quiet) || fail_to_start "cargo build --release failed"
bin="$target/release/mio-chat"

# shellcheck disable=SC2086 # extra server flags, split on purpose
"$bin" serve 127.0.0.1:0 ${SOAK_SERVER_ARGS:-} 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do
    grep -q "listening on" "$work/server.log" 2>/dev/null && break
    sleep 0.05
done
addr=$(sed -n 's/^mio-chat listening on //p' "$work/server.log")
[ -n "$addr" ] || fail_to_start "the server printed no address"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$server/status" 2>/dev/null; }
fd_count() { ls "/proc/$server/fd" 2>/dev/null | wc -l; }
fds_before=$(fd_count)
rss_before=$(rss_kib)
echo "soak: server pid $server on $addr, ${seconds}s; before: RSS ${rss_before} KiB, ${fds_before} fds"

# Churn, slow reader and flooder: a small Python helper, stopped with SIGTERM.
cat >"$work/helpers.py" <<'PY'
import os, random, signal, socket, struct, sys, threading, time

host, port = sys.argv[1].rsplit(":", 1)
addr, room, status_path = (host, int(port)), sys.argv[2], sys.argv[3]
stop = threading.Event()
counts = {"churned": 0, "slow_dropped": 0, "flooded_mb": 0, "errors": 0}
lock = threading.Lock()

def count(key, n=1):
    with lock:
        counts[key] += n

def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data

def churn(seed):
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            s = socket.create_connection(addr, timeout=10)
            s.sendall(b"\n")
            read_line(s)
            s.sendall(("/join %s\n" % room).encode())
            time.sleep(rng.uniform(0, 0.3))
            how = rng.randrange(3)
            if how == 0:
                s.sendall(b"/quit bye\n")
            elif how == 1:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            count("churned")
        except OSError:
            count("errors")
            time.sleep(0.1)

def slow_reader():
    while not stop.is_set():
        try:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(addr)
            s.sendall(("\n/join %s\n" % room).encode())
            # Never read. An empty line every 0.5 s is ignored by the server, but once it
            # has dropped us the sends fail (reset), which is how we notice.
            while not stop.is_set():
                time.sleep(0.5)
                try:
                    s.sendall(b"\n")
                except OSError:
                    count("slow_dropped")
                    break
            s.close()
        except OSError:
            count("errors")
            time.sleep(0.1)

def flooder():
    frame = struct.pack("<I", 65536) + b"f" * 65536
    while not stop.is_set():
        try:
            s = socket.create_connection(addr, timeout=10)
            join = b"/join fl00d"
            s.sendall(b"\0\0\0\0" + struct.pack("<I", len(join)) + join)
            while not stop.is_set():
                start = time.time()
                for _ in range(16):  # 1 MiB per 100 ms at most: about 10 MB/s
                    s.sendall(frame)
                count("flooded_mb")
                time.sleep(max(0, 0.1 - (time.time() - start)))
                s.setblocking(False)
                try:
                    while s.recv(65536):
                        pass
                except BlockingIOError:
                    pass
                s.setblocking(True)
            s.close()
        except OSError:
            count("errors")
            time.sleep(0.1)

signal.signal(signal.SIGTERM, lambda *_: stop.set())
threads = [threading.Thread(target=churn, args=(i,)) for i in range(4)]
threads += [threading.Thread(target=slow_reader), threading.Thread(target=flooder)]
for t in threads:
    t.daemon = True
    t.start()
def write_status():
    # Written aside and renamed, so a reader never sees a half-written line.
    with lock, open(status_path + ".new", "w") as f:
        f.write(" ".join("%s %d" % kv for kv in counts.items()) + "\n")
    os.replace(status_path + ".new", status_path)

while not stop.is_set():
    write_status()
    stop.wait(1)
for t in threads:
    t.join(timeout=15)
write_status()
PY
python3 "$work/helpers.py" "$addr" "$ROOM" "$work/helpers.status" &
helpers=$!

"$bin" bench "$addr" --clients "$CLIENTS" --senders "$SENDERS" --rate "$RATE" \
    --duration "$seconds" --room "$ROOM" --server-pid "$server" --json \
    >"$work/bench.json" 2>"$work/bench.log" &
bench=$!

# Every 10 s: RSS, fds and the helpers' counters; keep RSS samples for the leak check.
start=$(date +%s)
samples=()
while kill -0 "$bench" 2>/dev/null; do
    sleep 10
    kill -0 "$server" 2>/dev/null || break
    elapsed=$(( $(date +%s) - start ))
    rss=$(rss_kib)
    samples+=("$rss")
    echo "soak: t=${elapsed}s RSS ${rss} KiB, $(fd_count) fds; $(cat "$work/helpers.status" 2>/dev/null)"
done
wait "$bench"
bench_status=$?
echo "soak: bench finished after $(( $(date +%s) - start ))s with exit $bench_status"
kill -TERM "$helpers" 2>/dev/null
wait "$helpers" 2>/dev/null
helper_counts=$(cat "$work/helpers.status" 2>/dev/null)

# Every client is gone: the server must be back to its fds before the run.
fds_after=$(fd_count)
for _ in $(seq 100); do
    fds_after=$(fd_count)
    [ "$fds_after" -le "$fds_before" ] && break
    sleep 0.1
done
rss_after=$(rss_kib)

problems=()
kill -0 "$server" 2>/dev/null || problems+=("the server died")
if [ "$bench_status" -ne 0 ]; then
    problems+=("bench exit $bench_status: $(head -c 600 "$work/bench.json" "$work/bench.log" | tr '\n' ' ')")
fi
slow=$(echo "$helper_counts" | sed -n 's/.*slow_dropped \([0-9]*\).*/\1/p')
[ "${slow:-0}" -ge 1 ] || problems+=("no slow reader was dropped")
[ "$fds_after" -le "$fds_before" ] || problems+=("fds $fds_after after the run, $fds_before before")
n=${#samples[@]}
if [ "$n" -ge 3 ]; then
    third=$(( n / 3 ))
    first_max=$(printf '%s\n' "${samples[@]:0:third}" | sort -n | tail -1)
    last_max=$(printf '%s\n' "${samples[@]:n-third}" | sort -n | tail -1)
    allowed=$(( first_max * 110 / 100 + 4096 ))
    [ "$last_max" -le "$allowed" ] ||
        problems+=("RSS grew: ${last_max} KiB at the end, ${first_max} KiB in the first third")
fi

summary="bench: $(tr -d '\n' <"$work/bench.json" | grep -o '"\(messages_sent\|deliveries\|lost\|duplicated\|reordered\|other\|receivers_disconnected\|send_s\|duration_s\|deliveries_per_s\|latency_p99_us\|server_cpu_s\)":[^,}]*' | tr '\n' ' ')"
summary="$summary; helpers: $helper_counts; RSS ${rss_before} -> ${rss_after} KiB, fds ${fds_before} -> ${fds_after}"
if [ ${#problems[@]} -eq 0 ]; then
    echo "soak: PASS after ${seconds}s; $summary"
    exit 0
fi
echo "soak: FAIL after ${seconds}s: $(IFS=';'; echo "${problems[*]}"); $summary"
exit 1
