# Shared by the kernel checks (sourced): the paths, the Python environment, and a
# kernelspec for this build in a temporary Jupyter folder.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=${SPEL_VENV:-$HOME/.cache/spel/venv}
target=${CARGO_TARGET_DIR:-$root/target}

# skip_unless_present FILE WHAT: the shared tools live beside the project; without them
# the check fails (a missing tool is not a pass).
skip_unless_present() {
  if [ ! -f "$1" ]; then
    echo "$2 needs $1: put shared/ beside the project" >&2
    exit 1
  fi
}

# need_python "import a, b" PACKAGE...: install into the virtual environment if missing.
need_python() {
  local imports=$1
  shift
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c "$imports" 2>/dev/null || "$venv/bin/pip" install -q "$@"
}

# install_kernelspec: this build's kernelspec in a temporary folder on JUPYTER_PATH.
install_kernelspec() {
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  "$target/debug/spel" kernel install --prefix "$work/prefix" >/dev/null
  export JUPYTER_PATH="$work/prefix/share/jupyter" JUPYTER_RUNTIME_DIR="$work/runtime" JUPYTER_DATA_DIR="$work/data"
}
