#!/bin/bash
# `make test` from a fresh clone, RUNS times in a row, while BURNERS busy processes keep the
# cores taken (issue 13: the suite must pass five times in a row under load, not once quietly).
# Each run clones the committed HEAD of this checkout (uncommitted changes are not tested),
# builds its own virtualenvs and runs the whole suite there; the loop stops at the first failure.
# Usage: tests/soak/clean_clone_runs.sh [RUNS=5] [BURNERS=nproc] [OUT=/tmp/clean-clone-runs]
set -u
runs=${1:-5}
burners=${2:-$(nproc)}
out=${3:-/tmp/clean-clone-runs}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
head=$(git -C "$repo" rev-parse --short HEAD)
mkdir -p "$out"
log="$out/runs"

pids=()
for _ in $(seq 1 "$burners"); do yes > /dev/null & pids+=($!); done
# The burners go with the loop however it ends (Ctrl-C included).
trap 'kill "${pids[@]}" 2>/dev/null' EXIT

echo "== $(date -u +%FT%TZ) $runs runs of make test at $head beside $burners busy processes" >> "$log"
passed=0
for i in $(seq 1 "$runs"); do
  dir="$out/clone$i"
  rm -rf "$dir"
  git clone -q "$repo" "$dir"
  start=$(date +%s)
  (cd "$dir" && make test) > "$out/run$i.log" 2>&1
  rc=$?
  summary=$(grep -E '[0-9]+ (passed|failed).* in [0-9.]+s' "$out/run$i.log" | tail -2 | tr '\n' ' ')
  echo "run $i $(git -C "$dir" rev-parse --short HEAD) rc=$rc $(( ($(date +%s) - start) / 60 )) min  $summary  load: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$log"
  [ "$rc" -ne 0 ] && break
  passed=$((passed + 1))
  rm -rf "$dir"
done
echo "== $passed of $runs passed in a row" >> "$log"
cat "$log"
[ "$passed" -eq "$runs" ]
