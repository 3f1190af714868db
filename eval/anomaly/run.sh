#!/usr/bin/env bash
# Generates labelled sets with each independent generator and scores the
# detector on them, one generator at a time (figures in docs/anomalies.md).
#   eval/anomaly/run.sh [SEEDS] [-- extra anomaly-eval-data flags]
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS=${1:-10}
shift || true
OUT=target/anomaly-eval
cargo build --release --quiet --example anomaly-eval-data
for gen in eval/anomaly/generators/*.py; do
  name=$(basename "$gen" .py)
  dirs=()
  for seed in $(seq 1 "$SEEDS"); do
    dir="$OUT/$name/$seed"
    mkdir -p "$dir"
    python3 "$gen" --seed "$seed" --out "$dir" >/dev/null
    dirs+=("$dir")
  done
  echo "== $name ($SEEDS seeds)"
  target/release/examples/anomaly-eval-data "${dirs[@]}" "$@" || true
done
