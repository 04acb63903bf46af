#!/usr/bin/env bash
# The spel kernel against jupyter_kernel_test (shared/tools/kernel_conformance.py), with a
# real jupyter_client. Installs its Python packages into a virtual environment first.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tool="$root/../shared/tools/kernel_conformance.py"
if [ ! -f "$tool" ]; then
  echo "skipping the kernel conformance check: $tool is not beside the project"
  exit 0
fi
venv=${SPEL_VENV:-$HOME/.cache/spel/venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import jupyter_kernel_test, jupyter_client, pytest" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q jupyter_client jupyter_kernel_test pytest
fi
spel="${CARGO_TARGET_DIR:-$root/target}/debug/spel"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$spel" kernel install --prefix "$work/prefix" >/dev/null
export JUPYTER_PATH="$work/prefix/share/jupyter" JUPYTER_RUNTIME_DIR="$work/runtime" JUPYTER_DATA_DIR="$work/data"
set -a
. "$root/kernel/tests/conformance.env"
set +a
cd "$(dirname "$tool")"
timeout 300 "$venv/bin/python" -m pytest -q -p no:cacheprovider kernel_conformance.py "$root/kernel/tests/test_kernel.py"
