#!/usr/bin/env bash
# A person's view: JupyterLab in headless Chromium runs a spel cell and shows its table
# (shared/tools/jupyterlab_smoke.sh, which installs Chromium and playwright-core when
# missing). The screenshot is kept beside the build: $CARGO_TARGET_DIR/jupyterlab-smoke.png.
. "$(dirname "$0")/common.sh"
tool="$root/../shared/tools/jupyterlab_smoke.sh"
skip_unless_present "$tool" "the JupyterLab check"
need_python "import jupyterlab" jupyterlab
install_kernelspec
cd "$root/examples"
PATH="$venv/bin:$PATH" bash "$tool" spel \
  $'t = table region = ["London", "North West"], fte = [1.5, 2]\nt |> summarise total = sum(fte)' \
  '3.5' "$target/jupyterlab-smoke.png"

# The population-outcomes notebook as a reader sees it: its line plot and forest plot
# drawn, the odds-ratio table beside the published figures (screenshot beside the build).
bash "$root/kernel/tests/notebook_in_lab.sh" "$root/notebooks/02-population-outcomes.ipynb" 2 \
  "$target/notebook-02.png" "Odds ratios beside"
