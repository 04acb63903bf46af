#!/usr/bin/env bash
# Every test of spel, as CI runs them, from a fresh clone on a fresh machine.
# Needs only the Rust toolchain; later checks (Jupyter, browser) install what they need.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== formatting"
cargo fmt --all -- --check

echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== tests"
cargo test --workspace --locked

echo "== the REPL in a terminal"
cargo build --workspace --locked
bash repl/tests/repl_tmux.sh
