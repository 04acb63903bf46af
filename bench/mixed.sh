#!/usr/bin/env bash
# Linear mixed models at national scale: spel beside R's lme4 and statsmodels' MixedLM
# on the same simulated survey (simulate gpps, seed 1), in one run.
#   P: good_experience ~ lw_fte_50k + age_band + sex + (1 | practice)     6,500 practices
#   N: good_experience ~ lw_fte_50k + age_band + sex + (1 | pcn/practice) 1,250 PCNs, their practices
# A linear probability model, REML. spel's time is its whole process (simulating the rows
# and fitting); lme4's and MixedLM's are their fits alone, timed inside R and Python after
# reading the CSV file spel wrote from the same simulation. MixedLM fits P only (its
# nested variance components on a million rows did not finish in an hour here).
# usage: bench/mixed.sh [ROWS]   (default 1,000,000). SPEL=path/to/spel to use a given
# build; otherwise the release build is made first.
set -euo pipefail
rows=${1:-1000000}
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${SPEL_BENCH_VENV:-$HOME/.cache/spel/bench-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q statsmodels pandas
if [ -z "${SPEL:-}" ]; then
  (cd "$root" && cargo build --release -q -p spel)
  SPEL=${CARGO_TARGET_DIR:-$root/target}/release/spel
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$root/bench/study.sh"
data=$work/gpps.csv
fixed="lw_fte_50k + age_band + sex"
echo "simulate gpps, n = $rows |> select good_experience, lw_fte_50k, age_band, sex, pcn, practice |> write to \"$data\"" >"$work/make.spel"
"$SPEL" run "$work/make.spel" >/dev/null
for m in P N; do
  case $m in
    P) random="(1 | practice)" ;;
    N) random="(1 | pcn/practice)" ;;
  esac
  time_spel "$m" "simulate gpps, n = $rows |> model good_experience ~ $fixed + $random, family = ols" \
    "^lw_fte_50k|^practice|^pcn|^Residual|^REML criterion"
  Rscript -e "suppressMessages(library(lme4)); d <- read.csv('$data')
    t <- system.time(m <- lmer(good_experience ~ $fixed + $random, d))[['elapsed']]
    cat(sprintf('lme4 $m %.2f s (fit)  lw_fte_50k %.9g (SE %.7g)  REML criterion %.1f\n', t,
        fixef(m)[['lw_fte_50k']], sqrt(vcov(m)[2, 2]), REMLcrit(m))); print(VarCorr(m), digits = 6)"
done
"$venv/bin/python" - "$data" "$fixed" <<'PY'
import sys, time
import pandas as pd
import statsmodels.formula.api as smf
d = pd.read_csv(sys.argv[1])
start = time.perf_counter()
fit = smf.mixedlm(f"good_experience ~ {sys.argv[2]}", d, groups=d["practice"]).fit(reml=True)
took = time.perf_counter() - start
print(f"MixedLM P {took:.2f} s (fit)  lw_fte_50k {fit.fe_params['lw_fte_50k']:.9g} (SE {fit.bse_fe['lw_fte_50k']:.7g})"
      f"  practice SD {fit.cov_re.iloc[0, 0] ** 0.5 * 1:.6g}  residual SD {fit.scale ** 0.5:.6g}")
PY
