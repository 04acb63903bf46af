# Shared by the kernel checks (sourced): the paths, the Python environment, a kernelspec
# for this build in a temporary Jupyter folder, and JupyterLab with a headless browser.
# Everything they start is stopped, and every temporary folder removed, on exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=${SPEL_VENV:-$HOME/.cache/spel/venv}
target=${CARGO_TARGET_DIR:-$root/target}
# playwright-core drives the system's Chromium; it is installed here, never a browser.
export PW_DIR=${PW_DIR:-$HOME/.cache/spel/playwright}
[ -x "$target/debug/spel" ] || { echo "$target/debug/spel is missing: build spel first (cargo build)" >&2; exit 1; }

work=""    # the temporary folder (install_kernelspec)
lab_pid="" # the JupyterLab server (start_lab)
finish() {
  local status=$?
  if [ -n "$lab_pid" ]; then
    kill "$lab_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$lab_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$lab_pid" 2>/dev/null || true
    wait "$lab_pid" 2>/dev/null || true
    if [ "$status" != 0 ]; then
      echo "----- JupyterLab's log (end) -----" >&2
      tail -n 20 "$work/lab.log" >&2 || true
    fi
  fi
  [ -z "$work" ] || rm -rf "$work"
}
trap finish EXIT

# need_python "import a, b" PACKAGE...: install into the virtual environment if missing.
need_python() {
  local imports=$1
  shift
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # From /, so that a folder of the repository (jupyterlab/, the extension's source) is
  # not imported in place of the package of that name.
  (cd / && "$venv/bin/python" -c "$imports") 2>/dev/null || "$venv/bin/pip" install -q "$@"
}

# install_kernelspec: this build's kernelspec in a temporary folder on JUPYTER_PATH.
install_kernelspec() {
  work=$(mktemp -d)
  "$target/debug/spel" kernel install --prefix "$work/prefix" >/dev/null
  export JUPYTER_PATH="$work/prefix/share/jupyter" JUPYTER_RUNTIME_DIR="$work/runtime" JUPYTER_DATA_DIR="$work/data"
}

# need_browser: Chromium (apt-get) and playwright-core (npm) when missing.
need_browser() {
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  if [ ! -x /usr/bin/chromium ]; then
    { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium; } >/dev/null
  fi
  if [ ! -d "$PW_DIR/node_modules/playwright-core" ]; then
    mkdir -p "$PW_DIR"
    npm install --prefix "$PW_DIR" --no-audit --no-fund --silent playwright-core@1.65.1
  fi
}

# start_lab: a private JupyterLab server for this build's kernelspec (after
# install_kernelspec): a free port, a random token, its own settings, workspaces and
# notebook folder, and no news pop-up over the screenshots. Exports JL_URL and JL_TOKEN.
start_lab() {
  local port settings="$work/lab/settings"
  port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  JL_TOKEN=$("$venv/bin/python" -c 'import secrets; print(secrets.token_hex(16))')
  export JL_URL="http://127.0.0.1:$port" JL_TOKEN
  mkdir -p "$work/lab/notebooks" "$settings/@jupyterlab/apputils-extension"
  echo '{"fetchNews": "false"}' >"$settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
  JUPYTERLAB_SETTINGS_DIR="$settings" JUPYTERLAB_WORKSPACES_DIR="$work/lab/workspaces" \
    "$venv/bin/jupyter" lab --no-browser --ip=127.0.0.1 --port="$port" --ServerApp.port_retries=0 \
    --IdentityProvider.token="$JL_TOKEN" --allow-root --ServerApp.root_dir="$work/lab/notebooks" \
    >"$work/lab.log" 2>&1 &
  lab_pid=$!
  local deadline=$((SECONDS + 90))
  until "$venv/bin/python" -c 'import sys, urllib.request as u
u.urlopen(u.Request(sys.argv[1] + "/api/status", headers={"Authorization": "token " + sys.argv[2]}), timeout=2)' \
    "$JL_URL" "$JL_TOKEN" 2>/dev/null; do
    kill -0 "$lab_pid" 2>/dev/null || { echo "JupyterLab exited before it answered" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { echo "JupyterLab did not answer within 90 s" >&2; exit 1; }
    sleep 0.5
  done
}
