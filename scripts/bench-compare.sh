#!/usr/bin/env bash
# The agent API of two commits in one run, back to back (docs/performance.md):
#   scripts/bench-compare.sh <base-commit> [loadgen flags…]
# Builds the server of <base-commit> and of the working tree the same way (plain release
# builds in target/bench, so the console's build in target/release is left alone), then
# drives both with `loadgen --baseline`, on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
base=$(git rev-parse --short "${1:?usage: scripts/bench-compare.sh <base-commit> [loadgen flags]}")
shift
export CARGO_TARGET_DIR=$PWD/target/bench
mkdir -p target/bench

before=target/bench/tollgate-$base
if [[ ! -x $before ]]; then
  tree=$(mktemp -d)
  git worktree add -q --detach "$tree" "$base"
  (cd "$tree" && cargo build --release --features ssr --bin tollgate)
  cp target/bench/release/tollgate "$before"
  git worktree remove --force "$tree"
fi
cargo build --release --features ssr --bin tollgate
cp target/bench/release/tollgate target/bench/tollgate-after
cargo build --release --features bench --bin loadgen

target/bench/release/loadgen --server target/bench/tollgate-after --baseline "$before" "$@"
target/bench/release/loadgen --server target/bench/tollgate-after --baseline "$before" \
  --backend postgres --scenarios noop,check,check-reserve,report "$@"
