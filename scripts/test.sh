#!/usr/bin/env bash
# Every test of spel, as CI runs them, from a fresh clone on a fresh machine.
# Needs the Rust toolchain, Python 3, and Node.js with npm; the Jupyter and terminal checks
# install their own packages (a virtual environment and playwright-core under
# ~/.cache/spel; tmux, Chromium, and R with metafor, survey and lme4 by apt-get when missing). Everything they read is in
# the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== formatting"
cargo fmt --all -- --check

echo "== lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== the numerics crate depends on no tables"
if cargo tree -p spel-stats --locked -e normal --prefix none | grep -E '^(polars|spel-stdlib) '; then
  echo "spel-stats must not depend on polars or the engine" >&2
  exit 1
fi

echo "== tests"
cargo test --workspace --locked

# `cargo test` has built target/debug/spel for the CLI tests; the checks below use it.
echo "== random models against statsmodels"
bash stdlib/tests/differential/run.sh --cases 300 --seed 1

echo "== random interrupted time series against statsmodels"
bash stdlib/tests/differential/run.sh --its --cases 60 --seed 1

echo "== random two-stage least squares against linearmodels"
bash stdlib/tests/differential/run.sh --iv --cases 60 --seed 1

echo "== random regression discontinuities against rdrobust"
bash stdlib/tests/differential/run.sh --rdd --cases 80 --seed 1

echo "== random manipulation tests against rddensity"
bash stdlib/tests/differential/run.sh --rddensity --cases 80 --seed 1

echo "== random inverse probability weighting against the stacked estimating equations"
bash stdlib/tests/differential/run.sh --ipw --cases 60 --seed 1

echo "== random doubly robust weighting against the stacked estimating equations (the reference against Stata's table)"
bash stdlib/tests/differential/run.sh --aipw --cases 60 --seed 1

echo "== nearest-neighbour matching against MatchIt 4.7.2's stored output and an independent matcher"
bash stdlib/tests/differential/run.sh --match --cases 60 --seed 1

echo "== synthetic control against Stata's Proposition 99 fit, SLSQP and pysyncon"
bash stdlib/tests/differential/run.sh --synth --cases 30 --seed 1

echo "== meta-analyses against R's metafor"
bash stdlib/tests/differential/run.sh --meta --cases 80 --seed 1
echo "== survey designs' estimates against R's survey"
bash stdlib/tests/differential/run.sh --survey --cases 120 --seed 1

echo "== mixed models against R's lme4 (lmer, and glmer against an exact Laplace fit too)"
bash stdlib/tests/differential/run.sh --mixed --cases 120 --seed 1

echo "== the REPL in a terminal"
bash repl/tests/repl_tmux.sh

echo "== the Jupyter kernel (jupyter_kernel_test)"
bash kernel/tests/conformance.sh

echo "== the notebooks"
bash kernel/tests/notebooks.sh

echo "== JupyterLab in a browser"
bash kernel/tests/jupyterlab.sh

echo "== the wheel, installed as a user installs it"
bash kernel/tests/wheel.sh
echo "all checks passed"
