#!/usr/bin/env bash
# The load test of docs/operations.md: `allot serve` (release build) on
# loopback with 12 months x 200 teams of data (the unit-cost bench's
# dataset), read with tokens by wrk (Debian's `wrk`): showback (finance
# token), a team's costs, its unit costs and its explanation (team token).
# Each endpoint is loaded alone for DURATION seconds, then all four at
# once, then all four at once while an import of EXPORT (a FOCUS file; the
# documented figures use a 1,000,000-row export of the FinOps Foundation's
# focus-data-toolkit) runs into the same database. The dataset is built
# afresh each time, so the import is new to it. Prints one Markdown table
# row per endpoint and phase.
#
#   benches/load.sh                                     # SQLite
#   benches/load.sh postgres://allot@127.0.0.1:55432/postgres
#   EXPORT=/tmp/focus1m/out/focus.csv DURATION=10 CONNECTIONS=16 benches/load.sh
#
# Without EXPORT only the idle phase runs. Non-2xx answers are counted and
# reported: the test expects none.
set -euo pipefail
cd "$(dirname "$0")/.."

DATABASE=${1:-}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-2}
EXPORT=${EXPORT:-}
command -v wrk >/dev/null || { echo "load.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }

cargo build --release --bin allot
if [ -n "$DATABASE" ]; then
  cargo bench --bench unit_costs -- --teams 200 --months 13 --iterations 1 --database-url "$DATABASE" >&2
  CONFIG=target/bench/unit-costs-postgres.toml
else
  cargo bench --bench unit_costs -- --teams 200 --months 13 --iterations 1 >&2
  CONFIG=target/bench/unit-costs.toml
fi
ALLOT="target/release/allot --config $CONFIG"
FINANCE=$($ALLOT token create --role finance --name load 2>/dev/null)
TEAM=$($ALLOT token create --role team:team-100 --name load 2>/dev/null)

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG=target/bench/load-serve.log
$ALLOT serve --listen "127.0.0.1:$PORT" >"$LOG" 2>&1 &
SERVER=$!
IMPORT=
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  [ -n "$IMPORT" ] && kill "$IMPORT" 2>/dev/null || true
}
trap cleanup EXIT
BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  curl -sf "$BASE/healthz" >/dev/null && break
  sleep 0.1
done
curl -sf "$BASE/healthz" >/dev/null || { echo "load.sh: allot serve did not start; see $LOG" >&2; exit 1; }

# name|token|path
ENDPOINTS=(
  "showback|$FINANCE|/api/v1/showback?month=2026-10"
  "team costs|$TEAM|/api/v1/teams/team-100/costs?from=2026-10-01&to=2026-10-31"
  "unit costs|$TEAM|/api/v1/unit-costs?metric=orders&scope=team:team-100&from=2025-11&to=2026-10"
  "explain|$TEAM|/api/v1/teams/team-100/explain?month=2026-10"
)

# Loads one endpoint with `wrk -t THREADS -c CONNECTIONS`; prints its
# table row `| database | phase | endpoint | req/s | p50 | p99 | errors |`.
load() {
  local phase=$1 name=$2 token=$3 path=$4 threads=$5 connections=$6
  local status out
  status=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$BASE$path")
  [ "$status" = 200 ] || { echo "load.sh: $path answered $status" >&2; exit 1; }
  out=$(wrk -t"$threads" -c"$connections" -d"${DURATION}s" --latency -H "Authorization: Bearer $token" "$BASE$path")
  local rps p50 p99 non2xx errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
  errors=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
  printf '| %s | %s | %s | %.0f | %s | %s | %s |\n' "$BACKEND" "$phase" "$name" "$rps" "$p50" "$p99" \
    "$(( ${non2xx:-0} + ${errors:-0} ))"
}

# All four endpoints at once, CONNECTIONS/4 connections each.
mixed() {
  local phase=$1 pids=() files=() i=0
  for e in "${ENDPOINTS[@]}"; do
    IFS='|' read -r name token path <<<"$e"
    files+=("target/bench/load-$i.row")
    load "$phase" "$name" "$token" "$path" 1 $(( CONNECTIONS / 4 )) >"target/bench/load-$i.row" &
    pids+=($!)
    i=$(( i + 1 ))
  done
  for p in "${pids[@]}"; do wait "$p"; done
  cat "${files[@]}"
}

[ -n "$DATABASE" ] && BACKEND=PostgreSQL || BACKEND=SQLite
echo "| database | phase | endpoint | req/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|---|---|"
for e in "${ENDPOINTS[@]}"; do
  IFS='|' read -r name token path <<<"$e"
  load "idle, alone" "$name" "$token" "$path" "$THREADS" "$CONNECTIONS"
done
mixed "idle, all four"

if [ -n "$EXPORT" ]; then
  # One import of EXPORT, new to the dataset (rebuilt by the bench above).
  started=$(date +%s.%N)
  $ALLOT import focus "$EXPORT" >target/bench/load-import.log 2>&1 &
  IMPORT=$!
  # Let the import get past opening its file and into its rows.
  sleep 3
  mixed "during the import, all four"
  if kill -0 "$IMPORT" 2>/dev/null; then
    echo "(the import was still running when the load ended)"
  else
    echo "load.sh: the import ended before the load did; set DURATION lower" >&2
  fi
  wait "$IMPORT" || { echo "load.sh: the import failed; see target/bench/load-import.log" >&2; exit 1; }
  IMPORT=
  printf '(the import took %.1f s under load: %s)\n' "$(echo "$(date +%s.%N) - $started" | bc)" \
    "$(grep -m1 '^imported' target/bench/load-import.log)"
fi
