#!/usr/bin/env bash
# Random data sets and models fitted by spel and by statsmodels (see differential.py).
# Arguments go to differential.py: `--cases 10000 --seed 2` for a longer search; with
# `--its` first, to its.py (random interrupted time series, see there); with `--iv`,
# to iv.py (two-stage least squares against linearmodels); with `--rdd`, to rdd.py
# (regression discontinuity against rdrobust); with `--ipw`, to ipw.py (inverse probability
# weighting against the stacked estimating equations computed independently); with
# `--aipw`, to aipw.py (doubly robust weighting, likewise, the reference checked against
# Stata's own output); with `--match`, to match.py (nearest-neighbour matching against
# MatchIt's stored output and an independent matcher); with `--synth`, to synth.py
# (synthetic control against Stata's Proposition 99 fit, SLSQP and pysyncon); with
# `--rddensity`, to manipulation.py (the manipulation test against the rddensity package);
# with `--meta`, to meta.py (meta-analysis against R's metafor, from Debian's packages,
# installed when missing); with `--survey`, to survey.py (design-based estimates against
# R's survey package, likewise); with `--mixed`, to mixed.py (linear mixed models against
# R's lme4, likewise).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
venv=${SPEL_VENV:-$HOME/.cache/spel/venv}
target=${CARGO_TARGET_DIR:-$root/target}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import numpy, pandas, statsmodels, linearmodels, rdrobust, scipy, pysyncon, rddensity" 2>/dev/null ||
  "$venv/bin/pip" install -q numpy pandas scipy statsmodels linearmodels rdrobust==2.1.1 pysyncon==1.7.0 rddensity==3.0
# R with a package and jsonlite, from Debian's packages (metafor for the meta-analysis
# check, survey for the survey designs'), installed when missing.
need_r() {
  Rscript -e "library($1); library(jsonlite)" >/dev/null 2>&1 && return
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  { $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
      r-base-core "r-cran-$1" r-cran-jsonlite; } >/dev/null
}
check=differential.py
case "${1:-}" in
  --its) check=its.py; shift ;;
  --iv) check=iv.py; shift ;;
  --rdd) check=rdd.py; shift ;;
  --ipw) check=ipw.py; shift ;;
  --aipw) check=aipw.py; shift ;;
  --match) check=match.py; shift ;;
  --synth) check=synth.py; shift ;;
  --rddensity) check=manipulation.py; shift ;;
  --meta) check=meta.py; need_r metafor; shift ;;
  --survey) check=survey.py; need_r survey; shift ;;
  --mixed) check=mixed.py; need_r lme4; shift ;;
esac
exec "$venv/bin/python" "$root/stdlib/tests/differential/$check" "$target/debug/spel" "$@"
