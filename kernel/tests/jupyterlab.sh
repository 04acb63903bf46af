#!/usr/bin/env bash
# A person's view: JupyterLab in headless Chromium runs a spel cell and shows its table
# (kernel/tests/lab_cell.mjs), then shows a stored notebook's plots
# (kernel/tests/notebook_in_lab.sh). Installs JupyterLab, Chromium and playwright-core when
# missing. The screenshots are kept beside the build: $CARGO_TARGET_DIR/jupyterlab-smoke.png
# and notebook-02.png.
. "$(dirname "$0")/common.sh"
need_python "import jupyterlab" jupyterlab
need_browser
install_kernelspec
start_lab
CODE=$'t = table region = ["London", "North West"], fte = [1.5, 2]\nt |> summarise total = sum(fte)' \
  EXPECT=3.5 PNG="$target/jupyterlab-smoke.png" KERNEL=spel \
  timeout 300 node "$root/kernel/tests/lab_cell.mjs"

# The population-outcomes notebook as a reader sees it: its line plot and forest plot
# drawn, the odds-ratio table beside the published figures (screenshot beside the build).
bash "$root/kernel/tests/notebook_in_lab.sh" "$root/notebooks/02-population-outcomes.ipynb" 2 \
  "$target/notebook-02.png" "Odds ratios beside"
