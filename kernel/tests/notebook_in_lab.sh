#!/usr/bin/env bash
# A stored notebook as a reader sees it in JupyterLab: its plots must be drawn.
#   usage: notebook_in_lab.sh NOTEBOOK PLOTS SCREENSHOT.png [TEXT]
# The screenshot starts at the markdown cell containing TEXT (default: the top).
# Runs after kernel/tests/jupyterlab.sh, which installs Chromium, JupyterLab and
# playwright-core; nothing is executed (the stored outputs are shown).
. "$(dirname "$0")/common.sh"
notebook=$(realpath "$1") plots=$2 png=$(realpath -m "$3")
need_python "import jupyterlab" jupyterlab
install_kernelspec
tmp=$(mktemp -d)
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$("$venv/bin/python" -c 'import secrets; print(secrets.token_hex(16))')
mkdir -p "$tmp/root" "$tmp/settings/@jupyterlab/apputils-extension"
echo '{"fetchNews": "false"}' >"$tmp/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
JUPYTERLAB_SETTINGS_DIR="$tmp/settings" JUPYTERLAB_WORKSPACES_DIR="$tmp/ws" JUPYTER_RUNTIME_DIR="$tmp/rt" \
  "$venv/bin/jupyter" lab --no-browser --port="$port" --IdentityProvider.token="$token" --ip=127.0.0.1 \
  --allow-root --ServerApp.root_dir="$tmp/root" --ServerApp.port_retries=0 >"$tmp/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$tmp" "$work"' EXIT
for i in $(seq 120); do
  curl -sf -H "Authorization: token $token" "http://127.0.0.1:$port/api/status" >/dev/null && break
  kill -0 $server 2>/dev/null || { cat "$tmp/server.log"; exit 1; }
  sleep 0.5
done
JL_URL="http://127.0.0.1:$port" JL_TOKEN="$token" NOTEBOOK="$notebook" PLOTS="$plots" PNG="$png" FOCUS="${4:-}" \
  timeout 300 node "$root/kernel/tests/notebook_in_lab.mjs"
