#!/usr/bin/env bash
# A person's view: JupyterLab in headless Chromium runs a spel cell and shows its table
# (shared/tools/jupyterlab_smoke.sh, which installs Chromium and playwright-core when
# missing). The screenshot is kept beside the build: $CARGO_TARGET_DIR/jupyterlab-smoke.png.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tool="$root/../shared/tools/jupyterlab_smoke.sh"
if [ ! -f "$tool" ]; then
  echo "skipping the JupyterLab check: $tool is not beside the project"
  exit 0
fi
target=${CARGO_TARGET_DIR:-$root/target}
venv=${SPEL_VENV:-$HOME/.cache/spel/venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import jupyterlab" 2>/dev/null || "$venv/bin/pip" install -q jupyterlab
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$target/debug/spel" kernel install --prefix "$work" >/dev/null
cd "$root/examples"
PATH="$venv/bin:$PATH" JUPYTER_PATH="$work/share/jupyter" bash "$tool" spel \
  $'t = table region = ["London", "North West"], fte = [1.5, 2]\nt |> summarise total = sum(fte)' \
  '3.5' "$target/jupyterlab-smoke.png"
