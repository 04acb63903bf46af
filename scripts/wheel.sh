#!/usr/bin/env bash
# Builds the Python wheel (pyproject.toml) into $CARGO_TARGET_DIR/wheels: the JupyterLab
# extension first (Node.js and npm; python/spel.data/.../labextensions), then maturin.
#   scripts/wheel.sh            the quick wheel the test command installs (the dev build)
#   scripts/wheel.sh --release  the wheel to publish: the optimised build, manylinux
# The build tools (maturin, jupyter-builder) live in their own virtual environment.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
venv=${SPEL_BUILD_VENV:-$HOME/.cache/spel/build-venv}
tools=("maturin==1.16.0" "jupyter-builder==1.3.0")
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import maturin, jupyter_builder" 2>/dev/null ||
  "$venv/bin/pip" install -q "${tools[@]}"

echo "== the JupyterLab extension"
rm -rf python/spel.data/data/share/jupyter/labextensions
(cd jupyterlab && npm ci --no-audit --no-fund --silent && PATH="$venv/bin:$PATH" jupyter-builder build .)

echo "== the wheel"
case "${1:-}" in
  # manylinux_2_28 (glibc 2.28, so Ubuntu 20.04 on) needs a linker that targets an older
  # glibc than the build machine's: zig's (the ziglang package).
  --release)
    "$venv/bin/python" -c "import ziglang" 2>/dev/null || "$venv/bin/pip" install -q "ziglang==0.13.0"
    build=(--release --zig --compatibility manylinux_2_28 --auditwheel check) ;;
  "") build=(--profile dev --compatibility linux --auditwheel skip) ;;
  *) echo "usage: scripts/wheel.sh [--release]" >&2; exit 2 ;;
esac
# maturin runs zig as `python -m ziglang` with the first python on PATH: the venv's.
CARGO_TARGET_DIR="$target" PATH="$venv/bin:$PATH" "$venv/bin/maturin" build --locked "${build[@]}" --out "$target/wheels"
