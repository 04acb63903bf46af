#!/usr/bin/env bash
# A stored notebook as a reader sees it in JupyterLab: its plots must be drawn.
#   usage: notebook_in_lab.sh NOTEBOOK PLOTS SCREENSHOT.png [TEXT]
# The screenshot starts at the markdown cell containing TEXT (default: the top).
# Nothing is executed (the stored outputs are shown). Installs JupyterLab, Chromium and
# playwright-core when missing.
. "$(dirname "$0")/common.sh"
notebook=$(realpath "$1") plots=$2 png=$(realpath -m "$3")
need_python "import jupyterlab" jupyterlab
need_browser
install_kernelspec
start_lab
NOTEBOOK="$notebook" PLOTS="$plots" PNG="$png" FOCUS="${4:-}" \
  timeout 300 node "$root/kernel/tests/notebook_in_lab.mjs"
