"""The manipulation test by spel's `rddensity` and by the Python `rddensity` package
(version 3.0, the same code as the authors' R package of that version).

First the US Senate data (examples/data/senate.csv: the margin of victory, the running
variable of Cattaneo, Jansson and Ma's own illustration) with the defaults and
variations: orders, kernels, a given bandwidth, another cutoff. Then random seeded cases:
50 to 3,000 values (one in six 12 to 49), uniform, normal, skewed or rounded to few values (mass points), some
with extra units just above the cutoff (manipulation); a random order 1 to 3, kernel and
sometimes a given bandwidth.

Compared: the densities below and above and their difference, the jackknife standard
errors, T and its p-value, and the bandwidths each side (1e-7 relative). Where the package
refuses the data or cannot estimate (a singular fit, a variance that is not positive),
spel must refuse with a located error.
"""
import contextlib
import io
import os
import warnings

import numpy as np
import pandas as pd
import rddensity

from harness import close, main, run_spel, values

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def senate_cases():
    data = pd.read_csv(os.path.join(ROOT, "examples", "data", "senate.csv"))[["margin"]].dropna()
    base = {"data": data, "c": 0.0, "p": 2, "kernel": "triangular", "h": None}
    variations = [
        ("senate", {}),
        ("senate p = 1", {"p": 1}),
        ("senate p = 3", {"p": 3}),
        ("senate uniform", {"kernel": "uniform"}),
        ("senate epanechnikov", {"kernel": "epanechnikov"}),
        ("senate h = 20", {"h": 20.0}),
        ("senate cutoff 10", {"c": 10.0}),
    ]
    return [dict(base, name=name, **change) for name, change in variations]


def random_case(rng, k):
    # One case in six is small, where fits can be singular and both must refuse alike.
    n = int(rng.integers(50, 3001)) if rng.random() > 1 / 6 else int(rng.integers(12, 50))
    shape = str(rng.choice(["uniform", "normal", "skewed", "rounded"]))
    if shape == "uniform":
        x = rng.uniform(-1, 1, n)
    elif shape == "normal":
        x = rng.normal(0, 1, n)
    elif shape == "skewed":
        x = rng.exponential(1, n) - 0.7
    else:
        x = np.round(rng.uniform(-1, 1, n) * int(rng.integers(10, 60))) / 10
    x = np.round(x, 6)
    c = float(np.round(np.quantile(x, rng.uniform(0.2, 0.8)), 2))
    if shape == "rounded":
        c += 0.05
    if rng.random() < 0.3:
        # Units just below the cutoff move just above it.
        below = np.where((x < c) & (x > c - 0.3))[0]
        moved = below[rng.random(len(below)) < 0.4]
        x[moved] = np.round(c + rng.uniform(0, 0.3, len(moved)), 6)
    span = float(np.max(np.abs(x - c)))
    h = float(np.round(span * rng.uniform(0.3, 0.8), 4)) if rng.random() < 0.2 else None
    return {
        "name": f"random {k} ({shape}, n = {n})",
        "data": pd.DataFrame({"margin": x}),
        "c": c,
        "p": int(rng.choice([1, 2, 2, 2, 3])),
        "kernel": str(rng.choice(["triangular", "triangular", "epanechnikov", "uniform"])),
        "h": h,
    }


def spel_program(case, path):
    options = [f"cutoff = {case['c']!r}"]
    if case["p"] != 2:
        options.append(f"p = {case['p']}")
    if case["kernel"] != "triangular":
        options.append(f"kernel = {case['kernel']}")
    if case["h"] is not None:
        options.append(f"h = {case['h']!r}")
    return f'd = read "{path}", null_values = ["NA"]\nd |> rddensity margin, {", ".join(options)}\n'


def reference(case):
    kwargs = dict(c=case["c"], p=case["p"], kernel=case["kernel"])
    if case["h"] is not None:
        kwargs["h"] = [case["h"]]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = rddensity.rddensity(case["data"]["margin"].to_numpy(float), **kwargs)
    numbers = {
        "below": r.hat["left"], "above": r.hat["right"], "difference": r.hat["diff"],
        "se below": r.sd_jk["left"], "se above": r.sd_jk["right"], "se difference": r.sd_jk["diff"],
        "t": r.test["t_jk"], "p": r.test["p_jk"], "h below": r.h["left"], "h above": r.h["right"],
    }
    if not np.isfinite(numbers["t"]):
        raise ValueError("no test statistic")
    return numbers


def check(case, spel, work):
    out = run_spel(spel, work, case["data"], lambda path: spel_program(case, path))
    try:
        ref = reference(case)
    except Exception as refusal:  # the package refuses or cannot estimate: spel must refuse
        if out.returncode == 0:
            return [f"rddensity refused ({refusal}) but spel answered"]
        if "panicked" in out.stderr or "[spel::" not in out.stderr:
            return [f"spel failed without a located error: {out.stderr.strip()[:300]}"]
        case["refused"] = True
        return []
    if out.returncode != 0:
        return [f"spel failed: {out.stderr.strip()[:500]}"]
    rows = {r[0]: dict(zip(values(out)[-1]["columns"], r)) for r in values(out)[-1]["rows"]}
    ours = {
        "below": rows["density below"]["estimate"], "above": rows["density above"]["estimate"],
        "difference": rows["difference"]["estimate"],
        "se below": rows["density below"]["std_error"], "se above": rows["density above"]["std_error"],
        "se difference": rows["difference"]["std_error"],
        "t": rows["difference"]["z"], "p": rows["difference"]["p_value"],
        "h below": rows["density below"]["h"], "h above": rows["density above"]["h"],
    }
    return [f"{what}: spel {ours[what]!r}, rddensity {theirs!r}"
            for what, theirs in ref.items() if not close(ours[what], theirs, 1e-7)]


def tally(passed, cases):
    refused = sum(1 for case in cases if case.get("refused"))
    return (f"{passed} of {len(cases)} manipulation tests equal rddensity's "
            f"({refused} of them data both refuse)")


if __name__ == "__main__":
    main(
        lambda rng, count: senate_cases() + [random_case(rng, k) for k in range(count)],
        check,
        lambda case: spel_program(case, "data.csv").splitlines()[1],
        tally,
    )
