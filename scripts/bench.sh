#!/usr/bin/env bash
# Runs a bench writer then a bench reader against a fresh nsqd per persistence mode and prints
# a Markdown table (msgs/s, MiB/s, memory). Not a test: figures go to BENCHMARKS.md.
#
#   scripts/bench.sh                      # all modes, 10 s each, 200-byte messages
#   RUNFOR=5s SIZE=100 MODES="memory disk-only" scripts/bench.sh
#   REPEAT=3 scripts/bench.sh             # each mode 3 times (one row per run)
#   MODES=null scripts/bench.sh           # the writer against `nsq bench null-nsqd` (stores
#                                         # nothing): the ceiling of this machine and writer
#
# Another nsqd (e.g. Go's) with its own bench tools, in the same run:
#   NSQD=/path/to/go/nsqd BENCH_WRITER=/path/to/bench_writer BENCH_READER=/path/to/bench_reader \
#     scripts/bench.sh
# Go's tools take no --connections flag (they use one connection per GOMAXPROCS), and Go nsqd
# has no --sync-ack: its sync-ack row runs `--sync-every=1` (fsync after every message).
#
# Columns: "RSS after PUB" is the nsqd's resident memory once the writer is done; "B/msg" is
# (that RSS - RSS at start) / messages held in memory, for the memory mode.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNFOR=${RUNFOR:-10s}
SIZE=${SIZE:-200}
BATCH=${BATCH:-200}
RDY=${RDY:-2500}
CONNECTIONS=${CONNECTIONS:-2}
MODES=${MODES:-"memory disk-overflow disk-only sync-ack"}
REPEAT=${REPEAT:-1}
PORT=${PORT:-24150}

cargo build --release --quiet -p broker --bin nsqd -p nsq-tools --bin nsq
NSQD=${NSQD:-target/release/nsqd}
NSQ=target/release/nsq
if [[ -n "${BENCH_WRITER:-}" ]]; then
  writer=("$BENCH_WRITER")
  reader=("${BENCH_READER:?set BENCH_READER too}")
  connections=()
  go_nsqd=1
else
  writer=("$NSQ" bench writer)
  reader=("$NSQ" bench reader)
  connections=(--connections "$CONNECTIONS")
  go_nsqd=0
fi

mode_flags() {
  case "$1" in
    memory) echo "--mem-queue-size=10000000" ;;
    disk-overflow) echo "--mem-queue-size=10000" ;;
    disk-only) echo "--mem-queue-size=0" ;;
    sync-ack)
      if [[ $go_nsqd == 1 ]]; then echo "--mem-queue-size=0 --sync-every=1"; else echo "--mem-queue-size=0 --sync-ack"; fi ;;
    *) echo "unknown mode $1" >&2; exit 2 ;;
  esac
}

ops() { sed -n 's/.* - \([0-9.]*\)ops\/s.*/\1/p' | cut -d. -f1; }
mibs() { sed -n 's/.* - \([0-9.]*\)mb\/s.*/\1/p'; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
http() { curl -sf "$@"; }

echo "| mode | flags | PUB msgs/s | PUB MiB/s | SUB msgs/s | SUB MiB/s | RSS after PUB MiB | B/msg |"
echo "|---|---|---|---|---|---|---|---|"
for mode in $MODES; do
  for _ in $(seq "$REPEAT"); do
    if [[ $mode == null ]]; then
      "$NSQ" bench null-nsqd --tcp-address "127.0.0.1:$PORT" 2>/dev/null &
      pid=$!
      sleep 0.5
      w=$("${writer[@]}" --nsqd-tcp-address "127.0.0.1:$PORT" --runfor "$RUNFOR" --size "$SIZE" \
        --topic sub_bench "${connections[@]}" --batch-size "$BATCH" 2>&1)
      kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
      echo "| null | \`nsq bench null-nsqd\` | $(echo "$w" | ops) | $(echo "$w" | mibs) | - | - | - | - |"
      continue
    fi
    data=$(mktemp -d)
    flags=$(mode_flags "$mode")
    api="http://127.0.0.1:$((PORT + 1))"
    # shellcheck disable=SC2086
    "$NSQD" --tcp-address "127.0.0.1:$PORT" --http-address "127.0.0.1:$((PORT + 1))" \
      --data-path "$data" $flags >"$data.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
      http "$api/ping" >/dev/null 2>&1 && break
      sleep 0.1
    done
    base_kib=$(rss_kib "$pid")
    common=(--nsqd-tcp-address "127.0.0.1:$PORT" --runfor "$RUNFOR" --size "$SIZE" --topic sub_bench)
    # Create the channel first, as NSQ's bench.sh does, so published messages reach it.
    http -X POST "$api/topic/create?topic=sub_bench" >/dev/null
    http -X POST "$api/channel/create?topic=sub_bench&channel=ch" >/dev/null
    w=$("${writer[@]}" "${common[@]}" "${connections[@]}" --batch-size "$BATCH" 2>&1)
    pub_kib=$(rss_kib "$pid")
    in_memory=$(http "$api/stats?format=json&topic=sub_bench&channel=ch" |
      python3 -c 'import json,sys; s=json.load(sys.stdin); s=s.get("data", s); c=s["topics"][0]["channels"][0]; print(c["depth"] - c["backend_depth"])')
    r=$("${reader[@]}" "${common[@]}" "${connections[@]}" --channel ch --rdy "$RDY" 2>&1)
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$data" "$data.log"
    per_msg="-"
    if [[ $mode == memory && $in_memory -gt 0 ]]; then
      per_msg=$(( (pub_kib - base_kib) * 1024 / in_memory ))
    fi
    echo "| $mode | \`$flags\` | $(echo "$w" | ops) | $(echo "$w" | mibs) | $(echo "$r" | ops) | $(echo "$r" | mibs) | $((pub_kib / 1024)) | $per_msg |"
  done
done
