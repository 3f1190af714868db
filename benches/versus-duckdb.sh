#!/usr/bin/env bash
# allot against DuckDB on the same real-shaped bill, in one run.
#
#   benches/versus-duckdb.sh [ROWS] [RUNS]        # default 1000000 rows, 3 runs
#
# Generates (once, kept in target/bench/) a FOCUS 1.2 AWS export with the
# FinOps Foundation's focus-data-toolkit (PyPI), seed 42, in a throw-away
# venv that also holds DuckDB. Then, RUNS times each, with peak memory from
# /usr/bin/time:
#   - allot (release build): import the export into a fresh SQLite database,
#     then allocate its month with one rule (the `Owner` tag names the team);
#   - DuckDB: read the same CSV and aggregate it by day, billing account,
#     service, owner tag and charge category (what allot's lines hold).
# Prints the median of each step, the end-to-end times and their ratio;
# the commands' own output goes to target/bench/versus/log.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
RUNS=${2:-3}
DIR=target/bench/versus
VENV=target/bench/venv
mkdir -p "$DIR"

if [ ! -x "$VENV/bin/focus-toolkit" ] || ! "$VENV/bin/python" -c 'import duckdb' 2>/dev/null; then
  echo "versus: creating $VENV with focus-data-toolkit and duckdb (pip)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q focus-data-toolkit duckdb
fi
EXPORT="$DIR/$ROWS/focus_1_2_cost_and_usage_aws.csv"
if [ ! -f "$EXPORT" ]; then
  echo "versus: generating $ROWS rows" >&2
  "$VENV/bin/focus-toolkit" generate --provider aws --focus-version 1.2 \
    --rows "$ROWS" --seed 42 --out "$DIR/$ROWS" >/dev/null
fi
cargo build --release --quiet --bin allot
ALLOT=target/release/allot

RULES="$DIR/rules"
mkdir -p "$RULES"
cat >"$RULES/00-owner.toml" <<'EOF'
# The toolkit tags each resource with `Owner` (team-platform, team-data...).
[[rule]]
name = "owner-tag"
team_from_tag = "owner"
EOF

MONTHS=$("$VENV/bin/python" - "$EXPORT" <<'EOF'
import sys, duckdb
rows = duckdb.sql(f"SELECT DISTINCT strftime(CAST(ChargePeriodStart AS TIMESTAMP), '%Y-%m') FROM read_csv('{sys.argv[1]}') ORDER BY 1").fetchall()
print(" ".join(r[0] for r in rows))
EOF
)

# Runs a command, appends "seconds peak_kib" to the file $1.
measure() {
  local out=$1
  shift
  /usr/bin/time -f '%e %M' -o "$DIR/time.tmp" "$@" >/dev/null 2>>"$DIR/log.txt"
  cat "$DIR/time.tmp" >>"$out"
}

: >"$DIR/import.txt"; : >"$DIR/allocate.txt"; : >"$DIR/duckdb.txt"; : >"$DIR/log.txt"
for run in $(seq 1 "$RUNS"); do
  DB="$DIR/allot.db"
  rm -f "$DB" "$DB-wal" "$DB-shm"
  export ALLOT_DATABASE_URL="sqlite://$DB"
  measure "$DIR/import.txt" "$ALLOT" import focus "$EXPORT"
  for month in $MONTHS; do
    measure "$DIR/allocate.txt" "$ALLOT" allocate --rules "$RULES" --month "$month"
  done
  measure "$DIR/duckdb.txt" "$VENV/bin/python" -c "
import duckdb
duckdb.sql('''
  SELECT CAST(ChargePeriodStart AS DATE) AS day, BillingAccountId, ServiceName,
         json_extract_string(Tags, '\$.Owner') AS owner, ChargeCategory, BillingCurrency,
         sum(CAST(EffectiveCost AS DECIMAL(38, 10))) AS cost
  FROM read_csv('$EXPORT')
  GROUP BY ALL
''').fetchall()
"
  echo "versus: run $run of $RUNS done" >&2
done

python3 - "$DIR" "$ROWS" "$MONTHS" <<'EOF'
import statistics, sys
d, rows, months = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
def load(name):
    return [tuple(map(float, l.split())) for l in open(f"{d}/{name}.txt") if l.strip()]
imp, alloc, duck = load("import"), load("allocate"), load("duckdb")
per = len(months)
# allocate.txt has one line per month per run: sum a run's months.
alloc_runs = [(sum(t for t, _ in alloc[i:i + per]), max(m for _, m in alloc[i:i + per]))
              for i in range(0, len(alloc), per)]
med = lambda xs: statistics.median(xs)
i_t, i_m = med([t for t, _ in imp]), max(m for _, m in imp)
a_t, a_m = med([t for t, _ in alloc_runs]), max(m for _, m in alloc_runs)
e2e = med([a + b[0] for (a, _), b in zip(imp, alloc_runs)])
k_t, k_m = med([t for t, _ in duck]), max(m for _, m in duck)
mib = lambda kib: kib / 1024
print(f"{rows:,} rows, months {' '.join(months)}, median of {len(imp)} runs")
print(f"| step | allot (SQLite) | DuckDB | ratio |")
print(f"|---|---|---|---|")
print(f"| import | {i_t:.2f} s ({rows / i_t:,.0f} rows/s), peak {mib(i_m):.0f} MiB | | |")
print(f"| allocate | {a_t:.2f} s, peak {mib(a_m):.0f} MiB | | |")
print(f"| end to end | {e2e:.2f} s | {k_t:.2f} s, peak {mib(k_m):.0f} MiB | {e2e / k_t:.1f}x |")
EOF
