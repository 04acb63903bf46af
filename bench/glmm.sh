#!/usr/bin/env bash
# Logit mixed models (the Laplace approximation): spel beside R's lme4 (glmer) on the same
# simulated survey (simulate gpps, seed 1), in one run.
#   S: good_experience ~ lw_fte_50k + sex + (1 | practice)    6,500 practices
#   Y: good_experience ~ lw_fte_50k + year + (1 | practice)   a calendar year beside the intercept
# spel's time is its whole process (simulating the rows and fitting); lme4's is its fit
# alone, timed inside R after reading the CSV file spel wrote from the same simulation.
# usage: bench/glmm.sh [ROWS]   (default 100,000). SPEL=path/to/spel to use a given build;
# otherwise the release build is made first.
set -euo pipefail
rows=${1:-100000}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${SPEL:-}" ]; then
  (cd "$root" && cargo build --release -q -p spel)
  SPEL=${CARGO_TARGET_DIR:-$root/target}/release/spel
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. "$root/bench/study.sh"
data=$work/gpps.csv
echo "simulate gpps, n = $rows |> select good_experience, lw_fte_50k, sex, year, practice |> write to \"$data\"" >"$work/make.spel"
"$SPEL" run "$work/make.spel" >/dev/null
for m in S Y; do
  case $m in
    S) fixed="lw_fte_50k + sex" ;;
    Y) fixed="lw_fte_50k + year" ;;
  esac
  time_spel "$m" "simulate gpps, n = $rows |> model good_experience ~ $fixed + (1 | practice)" \
    "^lw_fte_50k|^year|^practice|^log-likelihood|optimiser"
  Rscript -e "suppressMessages(library(lme4)); d <- read.csv('$data')
    t <- system.time(m <- glmer(good_experience ~ $fixed + (1 | practice), d, family = binomial))[['elapsed']]
    s <- sqrt(diag(as.matrix(vcov(m))))
    cat(sprintf('lme4 $m %.2f s (fit)  lw_fte_50k %.7g (SE %.6g)  log-likelihood %.2f\n', t,
        fixef(m)[['lw_fte_50k']], s[['lw_fte_50k']], as.numeric(logLik(m))))
    if ('year' %in% names(s)) cat(sprintf('lme4 year %.7g (SE %.6g)\n', fixef(m)[['year']], s[['year']]))
    print(VarCorr(m), digits = 6)" 2>&1 | grep -v "^boundary"
done
