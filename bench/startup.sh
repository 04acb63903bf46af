#!/usr/bin/env bash
# REPL start-up, side by side with the consoles spel's users would otherwise open.
# Each command starts, reaches its prompt, reads end-of-input and exits.
# usage: bench/startup.sh [path/to/spel]   (default: the release build, else the debug build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
spel=${1:-}
if [ -z "$spel" ]; then
  if [ -x "$target/release/spel" ]; then spel=$target/release/spel; else spel=$target/debug/spel; fi
fi
command -v hyperfine >/dev/null || { apt-get update -q && apt-get install -y -q hyperfine; } >/dev/null
commands=("$spel < /dev/null" "python3 -q -i < /dev/null")
command -v R >/dev/null && commands+=("R --quiet --no-save < /dev/null")
echo "spel binary: $spel"
hyperfine --shell=bash --warmup 5 --runs 50 --export-markdown /tmp/startup.md "${commands[@]}"
cat /tmp/startup.md
