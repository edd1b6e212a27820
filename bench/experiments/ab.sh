#!/usr/bin/env bash
# A/B benchmark of a change to src/, without touching this work tree:
#
#   bench/experiments/ab.sh NAME [REF] [PATCH...]
#
# Builds a copy of the project at git REF (default HEAD; e.g. 1f061b6 for "before hardening") with this work tree's
# bench/ on top and the PATCHes (bench/experiments/*.patch, `patch -p1`) applied, in ${AB_DIR:-/tmp}/nrs-ab-NAME; then
# runs `npm run bench`'s runner with two variants interleaved: `base` (this work tree's build) and NAME (the copy).
# BENCH_* variables pass through (e.g. BENCH_ROUTES=noop-guard,guarded BENCH_ROUNDS=8 BENCH_SECONDS=2
# BENCH_EXTRAS=0); BENCH_OUT defaults to bench/experiments/results/NAME.json. AB_MICRO=1 also runs the micro-benchmark
# (bench/guard-micro.ts) on both builds, results next to it. AB_BUILD_ONLY=1 only builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
name=${1:?usage: ab.sh NAME [REF] [PATCH...]}
ref=${2:-HEAD}
shift $(($# >= 2 ? 2 : 1))
dir=${AB_DIR:-/tmp}/nrs-ab-$name
results=$root/bench/experiments/results
mkdir -p "$results"

rm -rf "$dir"
mkdir -p "$dir"
git -C "$root" archive "$ref" | tar -x -C "$dir"
rm -rf "$dir/bench"
cp -r "$root/bench" "$dir/bench"
rm -rf "$dir/bench/profiles" "$dir/bench/experiments/results"
ln -s "$root/node_modules" "$dir/node_modules"
for patch in "$@"; do
  echo "ab: applying $patch"
  patch -s -p1 -d "$dir" <"$patch"
done
echo "ab: building $dir (src at $ref$([ $# -gt 0 ] && echo " + $*"))"
# An older src may not type-check against today's bench/: tsc still emits; the runner checks that every route answers.
(cd "$dir" && npx tsc -p tsconfig.example.json >"$dir/tsc.log" 2>&1) || echo "ab: tsc reported errors (see $dir/tsc.log), using its output"
(cd "$root" && npx tsc -p tsconfig.example.json)
test -f "$dir/build/bench/api-app.js"
[ "${AB_BUILD_ONLY:-0}" = 1 ] && exit 0

BENCH_VARIANTS="base=$root/build,$name=$dir/build" BENCH_OUT="${BENCH_OUT:-$results/$name.json}" \
  node "$root/build/bench/run.js" | tee "$results/$name.log"
if [ "${AB_MICRO:-0}" = 1 ]; then
  BENCH_MICRO_OUT="$results/$name-micro-base.json" node "$root/build/bench/guard-micro.js" | tee "$results/$name-micro-base.log"
  BENCH_MICRO_OUT="$results/$name-micro.json" node "$dir/build/bench/guard-micro.js" | tee "$results/$name-micro.log"
fi
