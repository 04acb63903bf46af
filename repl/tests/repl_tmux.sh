#!/usr/bin/env bash
# The REPL as a person uses it: typed into a real terminal (tmux) with the shared
# check tool. Values, an error followed by a working statement, a two-line statement,
# Tab completion, a meta-command, history written to disk, and Ctrl-D exiting with 0.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tool="$root/../shared/tools/tmux_repl_check.sh"
if [ ! -f "$tool" ]; then
  echo "the tmux REPL check needs $tool: put shared/ beside the project" >&2
  exit 1
fi
spel="${CARGO_TARGET_DIR:-$root/target}/debug/spel"
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
cd "$root"
export REPL_CMD="env XDG_DATA_HOME=$home HOME=$home $spel"
export PROMPT='^(spel>|  \.\.\.) ?$'
export TIMEOUT=20
bash "$tool" \
  'x = 6 * 7' '' \
  'x' '42' \
  't |> head 1' 'unknown name `t`' \
  'x + 1' '43' \
  'y = (x +' '' \
  '  1) * 2' '' \
  'y' '86' \
  't = table region = ["London", "North West"], fte = [1.5, 2]' '' \
  $'t |> desc\t' 'shape: (2, 9)' \
  ':tables' '2 rows × 2 columns'
grep -q 'x = 6 \* 7' "$home/spel/history" || { echo "FAIL: history not written"; exit 1; }
echo "ok: history written to \$XDG_DATA_HOME/spel/history"
