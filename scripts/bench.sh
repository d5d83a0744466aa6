#!/usr/bin/env bash
# Runs `nsq bench writer` then `nsq bench reader` against a fresh nsqd per persistence mode and
# prints a Markdown table (msgs/s, MiB/s, peak RSS). Not a test: figures go to BENCHMARKS.md.
#
#   scripts/bench.sh                      # all modes, 10 s each, 200-byte messages
#   RUNFOR=5s SIZE=100 MODES="memory disk-only" scripts/bench.sh
#   NSQD=/path/to/go/nsqd scripts/bench.sh   # same run against another nsqd binary
set -euo pipefail
cd "$(dirname "$0")/.."

RUNFOR=${RUNFOR:-10s}
SIZE=${SIZE:-200}
BATCH=${BATCH:-200}
RDY=${RDY:-2500}
CONNECTIONS=${CONNECTIONS:-2}
MODES=${MODES:-"memory disk-overflow disk-only sync-ack"}
PORT=${PORT:-24150}

cargo build --release --quiet -p broker --bin nsqd -p nsq-tools --bin nsq
NSQD=${NSQD:-target/release/nsqd}
NSQ=target/release/nsq

mode_flags() {
  case "$1" in
    memory) echo "--mem-queue-size=10000000" ;;
    disk-overflow) echo "--mem-queue-size=10000" ;;
    disk-only) echo "--mem-queue-size=0" ;;
    sync-ack) echo "--mem-queue-size=0 --sync-ack" ;;
    *) echo "unknown mode $1" >&2; exit 2 ;;
  esac
}

ops() { sed -n 's/.* - \([0-9.]*\)ops\/s.*/\1/p' | cut -d. -f1; }
mibs() { sed -n 's/.* - \([0-9.]*\)mb\/s.*/\1/p'; }

echo "| mode | flags | PUB msgs/s | PUB MiB/s | SUB msgs/s | SUB MiB/s | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|"
for mode in $MODES; do
  data=$(mktemp -d)
  flags=$(mode_flags "$mode")
  # shellcheck disable=SC2086
  "$NSQD" --tcp-address "127.0.0.1:$PORT" --http-address "127.0.0.1:$((PORT + 1))" \
    --data-path "$data" $flags >"$data.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$((PORT + 1))/ping" >/dev/null 2>&1 && break
    sleep 0.1
  done
  common=(--nsqd-tcp-address "127.0.0.1:$PORT" --runfor "$RUNFOR" --size "$SIZE" --connections "$CONNECTIONS" --topic sub_bench)
  # Create the channel first, as NSQ's bench.sh does, so published messages reach it.
  curl -sf -X POST "http://127.0.0.1:$((PORT + 1))/topic/create?topic=sub_bench" >/dev/null
  curl -sf -X POST "http://127.0.0.1:$((PORT + 1))/channel/create?topic=sub_bench&channel=ch" >/dev/null
  w=$("$NSQ" bench writer "${common[@]}" --batch-size "$BATCH")
  r=$("$NSQ" bench reader "${common[@]}" --channel ch --rdy "$RDY")
  rss_kib=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$data" "$data.log"
  echo "| $mode | \`$flags\` | $(echo "$w" | ops) | $(echo "$w" | mibs) | $(echo "$r" | ops) | $(echo "$r" | mibs) | $((rss_kib / 1024)) |"
done
