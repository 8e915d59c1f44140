#!/usr/bin/env bash
# Server CPU-ns per delivery against the number of receivers (about 20M deliveries per
# point), for mio-chat and the ideal broadcaster, with the neutral fanout generator.
# Measuring only: not run by CI. Server on CPU 0, generator on CPU 1, loopback only.
# usage (from the project root, after `cargo build --release`): scripts/scaling.sh [N ...]
set -euo pipefail
cd "$(dirname "$0")/.."
receivers=("${@:-100 1000 5000 10000}")
for tool in fanout ideal; do
  cargo build --release -q --manifest-path "../shared/bench/$tool/Cargo.toml" --target-dir "target/$tool"
done
port=18200
for n in ${receivers[@]}; do
  for peer in mio-chat ideal; do
    port=$((port + 1))
    if [ "$peer" = mio-chat ]; then
      server=(target/release/mio-chat serve "127.0.0.1:$port" --max-clients 20000)
    else
      server=(target/ideal/release/ideal "127.0.0.1:$port")
    fi
    ( ulimit -n 20000; exec taskset -c 0 "${server[@]}" ) 2>/dev/null &
    srv=$!
    sleep 0.3
    taskset -c 1 timeout 300 target/fanout/release/fanout --proto frames --addr "127.0.0.1:$port" \
      --receivers "$n" --senders 4 --size 64 --messages $((20000000 / n)) --server-pid "$srv" \
      --max-time 200 2>/dev/null | tail -1 | python3 -c "
import json, sys
d = json.loads(sys.stdin.read())
ns = d['server_cpu_s'] * 1e9 / max(1, d['deliveries'])
print(f\"$peer receivers=$n deliveries={d['deliveries']} lost={d['lost']} server_cpu_s={d['server_cpu_s']} ns_per_delivery={ns:.1f}\")"
    kill "$srv" 2>/dev/null || true
    wait "$srv" 2>/dev/null || true
    sleep 0.5
  done
done
