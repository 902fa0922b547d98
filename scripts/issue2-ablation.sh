#!/usr/bin/env bash
# Issue 2's ratio (check by card data / no-op endpoint) with parts of the check taken out.
#
#   scripts/issue2-ablation.sh DATA [RUNS]
#
# DATA: a population made by `onshi synth --data DATA --people 1000000 --no-medical`.
# Builds central from this checkout with docs/experiments/issue2-ablation.patch applied
# (in a throw-away git worktree, release profile, its own target directory), then runs
# `bench --scenario all` RUNS times (default 2) against four variants of central:
#
#   base       the check as shipped
#   nolookup   the database lookup replaced by a clone of the first answer (EXP_NO_LOOKUP)
#   nohist     the history row not written (EXP_NO_HISTORY)
#   neither    both
#
# The patch is an experiment, never shipped: a check without its lookup or its history
# row is not a check. It answers one question: how high can the ratio go on this machine
# if one part of the check cost nothing? Results in docs/performance.md, session 10.
#
# The patch was made against commit 0ce6d32 (and applies to 0106874); if the store's code
# has moved on, `git apply` stops here with an error and the patch needs redoing by hand.
set -euo pipefail
data=${1:?usage: $0 DATA [RUNS]}
runs=${2:-2}
repo=$(cd "$(dirname "$0")/.." && pwd)
tree=$(mktemp -d /tmp/onshi-ablation.XXXXXX)
port=9743
cleanup() {
    pkill -f "onshi-ablation.*central serve" 2>/dev/null || true
    git -C "$repo" worktree remove --force "$tree" 2>/dev/null || true
}
trap cleanup EXIT

git -C "$repo" worktree add --detach "$tree" HEAD >/dev/null
git -C "$tree" apply "$repo/docs/experiments/issue2-ablation.patch"
CARGO_TARGET_DIR="$repo/target/ablation" cargo build --release -p onshi-cli \
    --manifest-path "$tree/Cargo.toml"
bin="$tree/onshi"
cp "$repo/target/ablation/release/onshi" "$bin"

variant() {
    local label=$1
    shift
    env "$@" "$bin" central serve --data "$data" --listen "127.0.0.1:$port" \
        >"$tree/central-$label.log" 2>&1 &
    local pid=$!
    sleep 3
    for _ in $(seq "$runs"); do
        "$bin" bench --data "$data" --addr "127.0.0.1:$port" --scenario all --duration 12 \
            --warmup 4 --connections 32 --no-references --json 2>/dev/null |
            python3 -c "
import json, sys
r = json.load(sys.stdin)
n, q = r['results']
print('%-9s no-op %6.0f/s central %4.1f gen %4.1f us | check %6.0f/s p99 %5.2f ms central %4.1f gen %4.1f us | ratio %.3f' % (
    '$label', n['throughput'], n['server_cpu_us_per_request'], n['client_cpu_us_per_request'],
    q['throughput'], q['p99_ms'], q['server_cpu_us_per_request'], q['client_cpu_us_per_request'],
    r['ratio_to_noop']))"
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    sleep 1
}

variant base ONSHI_ABLATION=none
variant nolookup EXP_NO_LOOKUP=1
variant nohist EXP_NO_HISTORY=1
variant neither EXP_NO_LOOKUP=1 EXP_NO_HISTORY=1
grep -h "EXP groups" "$tree"/central-base.log | tail -1 || true
