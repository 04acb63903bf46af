#!/usr/bin/env bash
# How long a Tab takes, spel beside ipykernel (bench/complete.py). Arguments: spel
# binaries to compare (default: the release build), each installed as its own kernel.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${SPEL_VENV:-$HOME/.cache/spel/venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q jupyter_client ipykernel pandas
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
kernels=()
[ $# -gt 0 ] || set -- "${CARGO_TARGET_DIR:-$root/target}/release/spel"
i=0
for spel in "$@"; do
  i=$((i + 1))
  "$spel" kernel install --prefix "$work/k$i" >/dev/null
  mkdir -p "$work/share/jupyter/kernels"
  cp -r "$work/k$i/share/jupyter/kernels/spel" "$work/share/jupyter/kernels/spel$i"
  kernels+=("spel$i")
done
"$venv/bin/python" -m ipykernel install --prefix "$work" >/dev/null
JUPYTER_PATH="$work/share/jupyter" "$venv/bin/python" "$root/bench/complete.py" "${kernels[@]}" python3
