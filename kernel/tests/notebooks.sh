#!/usr/bin/env bash
# The notebooks in notebooks/ run top to bottom on the spel kernel (nbclient, through
# shared/tools/run_notebooks.py) and their outputs are compared with the stored ones.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tool="$root/../shared/tools/run_notebooks.py"
if [ ! -f "$tool" ]; then
  echo "skipping the notebooks: $tool is not beside the project"
  exit 0
fi
venv=${SPEL_VENV:-$HOME/.cache/spel/venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import nbclient, nbformat" 2>/dev/null || "$venv/bin/pip" install -q nbclient nbformat
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${CARGO_TARGET_DIR:-$root/target}/debug/spel" kernel install --prefix "$work" >/dev/null
JUPYTER_PATH="$work/share/jupyter" timeout 600 "$venv/bin/python" "$tool" "$root/notebooks" --kernel spel --compare
