#!/usr/bin/env bash
# Kernel start-up and round trip beside ipykernel: installs jupyter_client and ipykernel
# into the test virtual environment and the spel kernelspec into a temporary prefix.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${SPEL_VENV:-$HOME/.cache/spel/venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q jupyter_client ipykernel
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
spel=${1:-${CARGO_TARGET_DIR:-$root/target}/debug/spel}
"$spel" kernel install --prefix "$work" >/dev/null
"$venv/bin/python" -m ipykernel install --prefix "$work" >/dev/null
JUPYTER_PATH="$work/share/jupyter" "$venv/bin/python" "$root/bench/kernel.py"
