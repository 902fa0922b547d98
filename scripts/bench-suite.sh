#!/usr/bin/env bash
# One run of the whole benchmark suite (issue 7) against one database, as a Markdown table.
#
#   scripts/bench-suite.sh DATA [POSTGRES_URL] > suite.md
#
# DATA is a directory made by `onshi synth` (SQLite: DATA/central.sqlite; PostgreSQL: the
# URL given here, the same one synth wrote to). Starts its own central on 127.0.0.1:$PORT,
# runs every scenario one after the other with the reference figures of each run (no-op
# endpoint of the same server, RSA-2048 verify, and `pgbench -S` on PostgreSQL), stops
# central, then runs the insurer batch benchmark (a fresh database of its own on the same
# backend). The raw JSON of every scenario is kept in $OUT (printed at the end).
#
# Environment: B (binary, default target/release/onshi), PORT (9943), MIXED_SECONDS (600),
# MIXED_RATE (2000), DURATION (seconds of each other scenario; default 20, handshake and
# card 10), OUT (a new temporary directory). Needs python3 for the table.
# Run it on a quiet machine: every figure shares the two cores with the load generator.
set -euo pipefail
DATA=${1:?usage: bench-suite.sh DATA [POSTGRES_URL]}
URL=${2:-}
B=${B:-target/release/onshi}
PORT=${PORT:-9943}
MIXED_SECONDS=${MIXED_SECONDS:-600}
MIXED_RATE=${MIXED_RATE:-2000}
LONG=${DURATION:-20}
SHORT=${DURATION:-10}
OUT=${OUT:-$(mktemp -d /tmp/onshi-suite.XXXXXX)}
mkdir -p "$OUT"
DB=()
[ -n "$URL" ] && DB=(--database "$URL")

"$B" central serve --data "$DATA" "${DB[@]}" --listen "127.0.0.1:$PORT" >"$OUT/central.log" 2>&1 &
CENTRAL=$!
trap 'kill $CENTRAL 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  grep -q "central listening" "$OUT/central.log" && break
  kill -0 $CENTRAL 2>/dev/null || { cat "$OUT/central.log" >&2; exit 1; }
  sleep 0.5
done

bench() { # name, args...
  local name=$1
  shift
  echo "$(date -u +%H:%M:%S) $name" >&2
  "$B" bench --data "$DATA" "${DB[@]}" --addr "127.0.0.1:$PORT" --json "$@" >"$OUT/$name.json"
}
bench qualification --scenario qualification --connections 32 --duration "$LONG" --warmup 5
# Many facilities at once: on PostgreSQL checks that arrive together share a lookup statement.
bench qualification128 --scenario qualification --connections 128 --duration "$LONG" --warmup 5
bench card --scenario card --connections 32 --duration "$SHORT" --warmup 3
bench bulk --scenario bulk --bulk-patients 10000
bench medical --scenario medical --connections 100 --duration "$LONG" --warmup 3
bench handshake --scenario handshake --connections 64 --duration "$SHORT" --warmup 2
bench mixed --scenario mixed --rate "$MIXED_RATE" --duration "$MIXED_SECONDS" --warmup 10 --connections 64
kill $CENTRAL
wait $CENTRAL 2>/dev/null || true
trap - EXIT

echo "$(date -u +%H:%M:%S) insurer batch" >&2
PG=()
[ -n "$URL" ] && PG=(--pg-url "${URL%/*}/postgres")
"$B" insurer bench --rows 20000 --people 30000 --runs 2 "${PG[@]}" >"$OUT/insurer.txt" 2>&1

python3 - "$OUT" "$DATA" "${URL:+postgres}" <<'PY'
import json, os, re, sys
out, data, pg = sys.argv[1], sys.argv[2], sys.argv[3] == "postgres"
def load(name):
    with open(os.path.join(out, name + ".json")) as f:
        return json.loads([l for l in f if l.startswith("{")][-1])
def n(x, unit=""):
    return "—" if x is None else (f"{x:,.0f}{unit}" if x >= 100 else f"{x:.2f}{unit}")
def ms(x):
    return "—" if x is None else f"{x:.2f} ms"
rows, refs = [], []
for name, label in [("qualification", "check by card data, 32 connections"),
                    ("qualification128", "check by card data, 128 connections"), ("card", "check by card signature"),
                    ("bulk", "bulk check (10,000 patients, one upload)"), ("medical", "staff views (list + drug view)"),
                    ("handshake", "full mTLS handshakes"), ("mixed", "mixed morning peak (open loop)")]:
    try:
        d = load(name)
    except (OSError, ValueError, IndexError) as e:
        rows.append(f"| {label} | failed: {e} | | | | | |")
        continue
    if name == "bulk":
        secs = d["completed_ms"] / 1000
        rows.append(f"| {label} (`bulk`) | {n(d['patients'] / secs, ' patients/s')} ({d['patients']:,} in {secs:.2f} s; "
                    f"accepted after {d['accepted_ms']:.0f} ms) | | | | {d.get('errors')} | |")
        refs.append("| bulk | — |")
        continue
    if name == "medical":
        for part, what in [("patients", "同意済み患者一覧"), ("drug", "薬剤情報")]:
            m = d[part]
            rows.append(f"| {label}: {what}, {d['connections']} sessions (`medical`; server time, client p99 "
                        f"{ms(m['client_p99_ms'])}) | {n(m['throughput'], '/s')} | {ms(m['server_p50_ms'])} | "
                        f"{ms(m['server_p99_ms'])} | max {ms(m['server_max_ms'])} | {m['errors']} | |")
        refs.append("| medical | — |")
        continue
    main = next((r for r in d.get("results", []) if r.get("scenario") == d.get("scenario")), {})
    cpu = main.get("server_cpu_us_per_request")
    rows.append(f"| {label} (`{name}`) | {n(d.get('throughput'), '/s')} | {ms(d.get('p50_ms'))} | {ms(d.get('p99_ms'))} | "
                f"{ms(d.get('p999_ms'))} | {d.get('errors')} | {n(cpu, ' µs') if cpu is not None else '—'} |")
    noop = next((r for r in d.get("results", []) if r.get("scenario") == "noop"), None)
    ref = []
    if noop: ref.append(f"no-op {n(noop['throughput'], '/s')}")
    if d.get("ratio_to_noop") is not None: ref.append(f"ratio {d['ratio_to_noop']:.2f}")
    if d.get("rsa2048_verify_per_second"): ref.append(f"RSA-2048 verify {n(d['rsa2048_verify_per_second'], '/s')}")
    if d.get("pgbench_select_tps"): ref.append(f"`pgbench -S` {n(d['pgbench_select_tps'], ' tps')}")
    refs.append(f"| {name} | {'; '.join(ref) or '—'} |")
    if name == "mixed":
        for k, v in d.get("mixed", {}).items():
            if isinstance(v, dict) and k != "all":
                rows.append(f"| … {v['scenario']} | {n(v['throughput'], '/s')} | {ms(v['p50_ms'])} | {ms(v['p99_ms'])} | "
                            f"{ms(v['p999_ms'])} | {v['errors']} | |")
print(f"Database: {'PostgreSQL' if pg else 'SQLite'}, data `{data}`; machine: {load('qualification').get('machine', '?')}\n")
print("| scenario | throughput | p50 | p99 | p99.9 | errors | server CPU / op |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
print("\n".join(rows))
print("\nReference figures measured in the same runs:\n")
print("| scenario | references |\n| --- | --- |")
print("\n".join(refs))
print("\nInsurer batch registration (`onshi insurer bench --rows 20000 --people 30000 --runs 2`):\n")
print("```")
with open(os.path.join(out, "insurer.txt")) as f:
    print("\n".join(l.rstrip() for l in f if re.search(r"rows/s|run \d", l)))
print("```")
PY
echo "raw JSON: $OUT" >&2
