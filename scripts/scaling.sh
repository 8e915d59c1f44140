#!/usr/bin/env bash
# Server CPU-ns per delivery against the number of receivers (about 20M deliveries per
# point), for mio-chat (zero-copy sends on, the default), mio-chat with them off
# (`--zero-copy-min 0`) and the ideal broadcaster, with the neutral fanout generator.
# Runs are interleaved, a fresh server each, REPS times (default 3); prints every run and
# then the medians. Measuring only: not run by CI. Server on CPU 0, generator on CPU 1.
#
# mio-chat gets `--max-backlog 64 MiB`: at flood rate the generator can fall more than the
# default 1 MiB behind a receiver, and a receiver dropped as too slow (the contract) would
# take its deliveries out of the figure this curve is about. A run with loss is flagged.
#
# usage (from the project root, after `cargo build --release`): [REPS=3] scripts/scaling.sh [N ...]
set -euo pipefail
cd "$(dirname "$0")/.."
receivers=("${@:-100 1000 5000 10000}")
reps=${REPS:-3}
for tool in fanout ideal; do
  cargo build --release -q --manifest-path "../shared/bench/$tool/Cargo.toml" --target-dir "target/$tool"
done
results=$(mktemp)
port=18200
for rep in $(seq 1 "$reps"); do
  for n in ${receivers[@]}; do
    for peer in mio-chat mio-chat-copy ideal; do
      port=$((port + 1))
      case $peer in
        mio-chat) server=(target/release/mio-chat serve "127.0.0.1:$port" --max-clients 20000 --max-backlog 67108864) ;;
        mio-chat-copy) server=(target/release/mio-chat serve "127.0.0.1:$port" --max-clients 20000 --max-backlog 67108864 --zero-copy-min 0) ;;
        ideal) server=(target/ideal/release/ideal "127.0.0.1:$port") ;;
      esac
      ( ulimit -n 20000; exec taskset -c 0 "${server[@]}" ) 2>/dev/null &
      srv=$!
      sleep 0.3
      taskset -c 1 timeout 300 target/fanout/release/fanout --proto frames --addr "127.0.0.1:$port" \
        --receivers "$n" --senders 4 --size 64 --messages $((20000000 / n)) --server-pid "$srv" \
        --max-time 200 --quiet-ms 1000 --settle-max 60 2>/dev/null | tail -1 | python3 -c "
import json, sys
d = json.loads(sys.stdin.read())
ns = d['server_cpu_s'] * 1e9 / max(1, d['deliveries'])
flag = '' if d['lost'] == 0 else '  LOSS: not counted'
print(f\"$peer $n {ns:.1f} {d['lost']} {d['server_cpu_s']} {d['client_cpu_s']} {d['deliveries_per_s']:.0f}{flag}\")" \
        | tee -a "$results"
      kill "$srv" 2>/dev/null || true
      wait "$srv" 2>/dev/null || true
      sleep 0.5
    done
  done
done
echo "# peer receivers ns_per_delivery(median of $reps) [runs] client_cpu_s(median) deliveries_per_s(median)"
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) >= 7 and l.split()[3] == "0"]
keys = sorted({(r[0], int(r[1])) for r in rows}, key=lambda k: (k[0], k[1]))
for peer, n in keys:
    rs = [r for r in rows if r[0] == peer and int(r[1]) == n]
    ns = [float(r[2]) for r in rs]
    print(f"{peer:14s} {n:6d} {statistics.median(ns):6.1f}  {ns}  "
          f"{statistics.median(float(r[5]) for r in rs):.2f}  {statistics.median(float(r[6]) for r in rs):.0f}")
PY
rm -f "$results"
