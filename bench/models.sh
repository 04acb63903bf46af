#!/usr/bin/env bash
# The national-scale study (issue: 4.1 million respondents) fitted by spel and by the
# tools its users would otherwise use, on one Parquet file, in one run: whole-process
# wall time and peak memory (GNU time), and the estimate of lw_fte_50k side by side.
#   A: good_experience ~ lw_fte_50k + age_band + sex + ethnicity + imd_quintile + year,
#      logit, weights = weight, clustered by PCN
#   B: A + PCN fixed effects (1,250 levels; pyfixest's feglm takes no weights)
#   C: B with the year absorbed too, fe(year) + fe(pcn): the same model written two-way
#   D: the year and practice (6,500 levels, nested in PCNs) absorbed; clusters stay PCNs
#   E: three crossed absorbed effects, year + age band + PCN (age_band leaves the terms)
#   F: E with robust (not clustered) errors: the table of the three effects' combinations
# usage: bench/models.sh [ROWS]   (default 4,132,676); builds spel's release binary.
set -euo pipefail
rows=${1:-4132676}
. "$(dirname "$0")/study.sh"
bench_setup glum pyfixest statsmodels pyarrow polars
data=$work/gpps.parquet
base="lw_fte_50k + age_band + sex + ethnicity + factor(imd_quintile)"
write_study "$rows" "$data"
for m in A B C D E F; do
  options="weights = weight, cluster = pcn"
  case $m in
    A) terms="$base + factor(year)" ;;
    B) terms="$base + factor(year) + fe(pcn)" ;;
    C) terms="$base + fe(year) + fe(pcn)" ;;
    D) terms="$base + fe(year) + fe(practice)" ;;
    E) terms="${base/ + age_band/} + fe(year) + fe(age_band) + fe(pcn)" ;;
    F) terms="${base/ + age_band/} + fe(year) + fe(age_band) + fe(pcn)"; options="weights = weight, se = robust" ;;
  esac
  cat >"$work/spel_$m.spel" <<SPEL
d = read "$data"
m = d |> model good_experience ~ $terms, $options
tidy m on lw_fte_50k
SPEL
done
cat >"$work/spel_summary.spel" <<SPEL
read "$data" |> summarise good = mean(good_experience), lw = mean(lw_fte_50k), n = n() by region, year
SPEL
cat >"$work/polars_summary.py" <<PY
import polars as pl
print(pl.scan_parquet("$data").group_by("region", "year").agg(
    pl.col("good_experience").mean(), pl.col("lw_fte_50k").mean(), pl.len()).collect().height)
PY
results=$work/results.txt
: >"$results"
run() {  # name, model, command...: wall seconds, peak MiB, and the estimate line it printed
  local name=$1 model=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/err" || { echo "$name $model failed:"; tail -3 "$work/err"; return; }
  read -r secs kib <"$work/time"
  local estimate
  estimate=$("$venv/bin/python" - "$work/out" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.startswith("{")]
if not lines:
    print("")
else:
    d = json.loads(lines[-1])
    if "rows" in d:
        row = d["rows"][0]
        print(f"{row[3]:.9f} {row[4]:.7f}")
    else:
        print(f"{d['coef']:.9f} {d['se']:.7f}")
PY
)
  printf '%s|%s|%s|%s|%s\n' "$name" "$model" "$secs" "$((kib / 1024))" "$estimate" >>"$results"
}
for m in A B C D E F; do
  run spel $m "$spel" run --format json "$work/spel_$m.spel"
  run glum $m "$venv/bin/python" "$root/bench/models.py" glum $m "$data"
done
for m in B C D E F; do
  run pyfixest $m "$venv/bin/python" "$root/bench/models.py" pyfixest $m "$data"
done
run statsmodels A "$venv/bin/python" "$root/bench/models.py" statsmodels A "$data"
run spel summary "$spel" run "$work/spel_summary.spel"
run polars summary "$venv/bin/python" "$work/polars_summary.py"
echo "rows: $rows   spel: $("$spel" --version)   $(date -u +%Y-%m-%d)"
echo "| tool | model | seconds | peak MiB | lw_fte_50k estimate | SE |"
echo "|:---|:---|---:|---:|---:|---:|"
while IFS='|' read -r name model secs mib estimate; do
  read -r coef se <<<"${estimate:-- -}"
  echo "| $name | $model | $secs | $mib | ${coef:--} | ${se:--} |"
done <"$results"
