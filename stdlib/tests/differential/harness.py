"""The driver the reference checks share (iv.py, rdd.py, ipw.py): a case's data written
to CSV, a spel program run on it with `spel run --format json`, and the loop over seeded
cases that prints each failure and the tally."""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def run_spel(spel, work, data, program_for):
    """Writes `data` to work/data.csv and runs `program_for(path)` on it; the finished
    process (its stdout holds one JSON value a line)."""
    path = os.path.join(work, "data.csv")
    data.to_csv(path, index=False)
    program = os.path.join(work, "check.spel")
    with open(program, "w") as f:
        f.write(program_for(path))
    return subprocess.run([spel, "run", "--format", "json", program], capture_output=True, text=True)


def values(out):
    """The JSON values a run printed, in order."""
    return [json.loads(line) for line in out.stdout.strip().splitlines()]


def close(a, b, tol):
    return abs(a - b) <= tol * max(1.0, abs(b))


def main(cases_for, check, shown, tally):
    """Runs `check(case, spel, work)` (a list of problems) on `cases_for(rng, count)`;
    prints each failing case as `shown(case)` with its first problems, then
    `tally(passed, cases)`; exits 1 when any failed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("spel")
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    cases = cases_for(np.random.default_rng(args.seed), args.cases)
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for case in cases:
            problems = check(case, args.spel, work)
            if problems:
                failures += 1
                print(f"FAIL {case['name']}: {shown(case)}")
                for p in problems[:6]:
                    print(f"   {p}")
    print(tally(len(cases) - failures, cases))
    sys.exit(1 if failures else 0)


def with_r(cases, script, given_of, work):
    """Each case with R's results attached, R run once for all: each case's data is
    written to work/caseK.csv (its `path`), `given_of(case)` of every case to a JSON file,
    and `Rscript script given taken` writes a result per case to `taken`."""
    for k, case in enumerate(cases):
        case["path"] = os.path.join(work, f"case{k}.csv")
        case["data"].to_csv(case["path"], index=False)
    given, taken = os.path.join(work, "cases.json"), os.path.join(work, "results.json")
    with open(given, "w") as f:
        json.dump([given_of(c) for c in cases], f)
    subprocess.run(["Rscript", script, given, taken], check=True)
    with open(taken) as f:
        for case, result in zip(cases, json.load(f)):
            case["r"] = result
    return cases
