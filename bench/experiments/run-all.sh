#!/usr/bin/env bash
# Every A/B of bench/PROFILE.md, one after the other (about 40 minutes on 2 vCPU). Results in bench/experiments/results/.
# ONLY=name1,name2 runs a subset.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
only=",${ONLY:-},"
run() {
  local name=$1
  shift
  if [ "$only" != ",," ] && [[ "$only" != *",$name,"* ]]; then return; fi
  echo "=== $name $(date -u +%H:%M:%S)"
  "$here/ab.sh" "$name" "$@" >/dev/null 2>"$here/results/$name.err" || echo "ab $name failed (see results/$name.err)"
}
mkdir -p "$here/results"
export BENCH_EXTRAS=0 BENCH_PROBE=1 BENCH_PROBE_SECONDS=2 BENCH_SECONDS=2 BENCH_ROUNDS=4
export BENCH_ROUTES=noop-guard,guarded

# The guard before the hardening commits (src at 1f061b6) against this branch's base.
BENCH_ROUNDS=6 BENCH_SECONDS=3 run before-hardening 1f061b6

# Each proposed change alone, then together; with the micro-benchmark of both builds (AB_MICRO).
export AB_MICRO=1 BENCH_MICRO_REPS=1
run e7-all HEAD "$here/e7-all.patch"
run e8-all-but-memo HEAD "$here/e8-all-but-memo.patch"
run e1-lru-no-ttl HEAD "$here/e1-lru-no-ttl.patch"
run e1b-lru-ttl-resolution-0 HEAD "$here/e1b-lru-ttl-resolution-0.patch"
run e2-connection-key-memo HEAD "$here/e2-connection-key-memo.patch"
run e3-bearer-parse HEAD "$here/e3-bearer-parse.patch"
run e4-get-arg-by-index HEAD "$here/e4-get-arg-by-index.patch"
run e5-route-policy-one-lookup HEAD "$here/e5-route-policy-one-lookup.patch"

# What the module's global RouteContextGuard costs the routes: without it (measurement only: the Passport route's
# default deny needs it, so /passport is left out).
export AB_MICRO=0
BENCH_ROUTES=none,noop-guard,guarded BENCH_ROUNDS=6 run e6-no-global-guard HEAD "$here/e6-no-global-guard.measure-only.patch"
echo "=== done $(date -u +%H:%M:%S)"
