# Sourced by the bench scripts: spel's release build, the Python environment of the
# peers, a scratch folder, the simulated study as Parquet, and spel timed as a whole process.
#   bench_setup PACKAGE...        sets root, spel, venv and work (removed on exit)
#   write_study ROWS FILE         simulate gpps at ROWS respondents into FILE
#   time_spel LABEL CODE PATTERN  runs CODE by $SPEL (or $spel) under GNU time, printing
#                                 "spel LABEL seconds s memory KB" and the output's lines
#                                 matching PATTERN
bench_setup() {
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  local target=${CARGO_TARGET_DIR:-$root/target}
  venv=${SPEL_BENCH_VENV:-$HOME/.cache/spel/bench-venv}
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q "$@"
  (cd "$root" && cargo build --release -q -p spel)
  spel=$target/release/spel
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
}

write_study() {
  cat >"$work/make.spel" <<SPEL
simulate gpps, n = $1
  |> select good_experience, lw_fte_50k, age_band, sex, ethnicity, imd_quintile, year, pcn, practice, region, weight
  |> write to "$2"
SPEL
  "$spel" run "$work/make.spel" >/dev/null
}

time_spel() {
  local program=$work/spel_$1.spel
  echo "$2" >"$program"
  /usr/bin/time -f "spel $1 %e s %M KB" "${SPEL:-$spel}" run "$program" >"$work/spel_$1.out" 2>"$work/spel_$1.time"
  tail -1 "$work/spel_$1.time"
  grep -E "$3" "$work/spel_$1.out"
}
