#!/usr/bin/env bash
# Ten times the study: model C (see bench/models.sh) on 41,326,760 simulated respondents
# read from Parquet, with its wall time and peak memory beside the file's size in polars'
# memory. Needs about 13 GB of memory to simulate the file and 3 GB to fit.
# usage: bench/big.sh [ROWS]   (default 41,326,760); builds spel's release binary.
set -euo pipefail
rows=${1:-41326760}
. "$(dirname "$0")/study.sh"
bench_setup polars
data=$work/gpps.parquet
write_study "$rows" "$data"
cat >"$work/c.spel" <<SPEL
d = read "$data"
m = d |> model good_experience ~ lw_fte_50k + age_band + sex + ethnicity + factor(imd_quintile) + fe(year) + fe(pcn), weights = weight, cluster = pcn
tidy m on lw_fte_50k
SPEL
/usr/bin/time -f "%e %M" -o "$work/time" "$spel" run --format json "$work/c.spel" >"$work/out"
read -r secs kib <"$work/time"
"$venv/bin/python" - "$data" "$work/out" "$secs" "$kib" <<'PY'
import json, os, sys
import polars as pl
data, out, secs, kib = sys.argv[1:]
df = pl.read_parquet(data)
used = ["good_experience", "lw_fte_50k", "age_band", "sex", "ethnicity", "imd_quintile", "year", "pcn", "weight"]
row = json.loads(open(out).read().splitlines()[-1])["rows"][0]
print(f"rows {df.height:,}; Parquet {os.path.getsize(data) / 2**20:,.0f} MiB; in polars' memory "
      f"{df.estimated_size() / 2**20:,.0f} MiB (the model's columns {df.select(used).estimated_size() / 2**20:,.0f} MiB)")
print(f"spel model C: {secs} s, peak {int(kib) / 1024:,.0f} MiB; lw_fte_50k {row[3]:.7f} (SE {row[4]:.6f})")
PY
