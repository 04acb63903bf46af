"""Regression discontinuity by spel's `rdd` and by the Python `rdrobust` package.

First the US Senate data rdrobust's articles use (examples/data/senate.csv: the vote share
in the next election against the margin of victory) with its defaults and variations:
kernels, orders, given bandwidths, clusters, mass points off, another cutoff. Then random
seeded cases: 30 to 2,000 rows (one in six 8 to 29); the running variable uniform, normal, skewed or rounded
to few values (mass points); a jump and curvature on each side; a fuzzy treatment in
some (a jump in its probability, one-sided compliance in a few); clusters in some; a
random kernel, order 0 to 2, bandwidths chosen or given.

Compared: each row's estimate, standard error and interval (conventional,
bias-corrected, robust; the first stage's too when fuzzy), the bandwidths h and b, and
the rows within each (1e-8 relative). Where rdrobust refuses the data, spel must refuse
it too.
"""
import contextlib
import io
import os
import warnings

import numpy as np
import pandas as pd
from rdrobust import rdrobust

from harness import close, main, run_spel, values

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ROWS = ["conventional", "bias-corrected", "robust"]


def senate_cases():
    data = pd.read_csv(os.path.join(ROOT, "examples", "data", "senate.csv"))
    base = {"data": data, "y": "vote", "x": "margin", "c": 0.0, "fuzzy": None, "cluster": None,
            "p": 1, "kernel": "triangular", "h": None, "b": None, "masspoints": "adjust"}
    variations = [
        ("senate", {}),
        ("senate uniform", {"kernel": "uniform"}),
        ("senate epanechnikov p = 2", {"kernel": "epanechnikov", "p": 2}),
        ("senate p = 0", {"p": 0}),
        ("senate clustered by state", {"cluster": "state"}),
        ("senate h = 10", {"h": 10.0}),
        ("senate h = 10, b = 20", {"h": 10.0, "b": 20.0}),
        ("senate h = 10, b = 20 clustered", {"h": 10.0, "b": 20.0, "cluster": "state"}),
        ("senate cutoff 5", {"c": 5.0}),
        ("senate mass points off", {"masspoints": "off"}),
    ]
    return [dict(base, name=name, **change) for name, change in variations]


def random_case(rng, k):
    # One case in six is small (rdrobust's fallback below 20 rows, and data too thin for
    # a bandwidth), where both must refuse alike.
    n = int(rng.integers(30, 2001)) if rng.random() > 1 / 6 else int(rng.integers(8, 30))
    shape = str(rng.choice(["uniform", "normal", "skewed", "rounded"]))
    if shape == "uniform":
        x = rng.uniform(-1, 1, n)
    elif shape == "normal":
        x = rng.normal(0, 1, n)
    elif shape == "skewed":
        x = rng.exponential(1, n) - 0.7
    else:
        x = np.round(rng.uniform(-1, 1, n) * int(rng.integers(8, 40))) / 10
    x = np.round(x, 6)
    c = float(np.round(np.quantile(x, rng.uniform(0.25, 0.75)), 2))
    above = x >= c
    data = {"x": x}
    u = x - c
    fuzzy = None
    jump = rng.normal(0, 1)
    y = 1 + rng.normal(0, 1) * u + rng.normal(0, 0.5) * u ** 2 + 0.5 * rng.normal() * u * above
    if rng.random() < 0.3:
        low, high = (0.0, 0.7) if rng.random() < 0.3 else (0.2, 0.8)
        d = (rng.random(n) < np.where(above, high, low)).astype(float)
        data["d"] = d
        y = y + jump * d
        fuzzy = "d"
    else:
        y = y + jump * above
    cluster = None
    if rng.random() < 0.25:
        data["g"] = rng.integers(1, int(rng.integers(12, 60)) + 1, n)
        cluster = "g"
        y = y + rng.normal(0, 0.3, int(data["g"].max()) + 1)[data["g"]]
    data["y"] = np.round(y + rng.normal(0, rng.uniform(0.2, 1.5), n), 6)
    span = float(np.max(np.abs(x - c)))
    h = float(np.round(span * rng.uniform(0.3, 0.9), 4)) if rng.random() < 0.25 else None
    b = float(np.round(h * rng.uniform(1.0, 2.0), 4)) if h and rng.random() < 0.5 else None
    return {
        "name": f"random {k} ({shape}, n = {n})",
        "data": pd.DataFrame(data),
        "y": "y", "x": "x", "c": c, "fuzzy": fuzzy, "cluster": cluster,
        "p": int(rng.choice([0, 1, 1, 1, 2])),
        "kernel": str(rng.choice(["triangular", "triangular", "epanechnikov", "uniform"])),
        "h": h, "b": b,
        "masspoints": "adjust" if rng.random() < 0.85 else "off",
    }


def spel_program(case, path):
    options = [f"cutoff = {case['c']!r}"]
    if case["fuzzy"]:
        options.append(f"fuzzy = {case['fuzzy']}")
    if case["p"] != 1:
        options.append(f"p = {case['p']}")
    if case["kernel"] != "triangular":
        options.append(f"kernel = {case['kernel']}")
    if case["h"] is not None:
        options.append(f"h = {case['h']!r}")
    if case["b"] is not None:
        options.append(f"b = {case['b']!r}")
    if case["cluster"]:
        options.append(f"cluster = {case['cluster']}")
    if case["masspoints"] != "adjust":
        options.append(f"masspoints = {case['masspoints']}")
    call = f"rdd {case['y']} ~ {case['x']}, {', '.join(options)}"
    return f'd = read "{path}", null_values = ["NA"]\nd |> {call}\nd |> {call}, show = sides\n'


def reference(case):
    d = case["data"]
    kwargs = dict(c=case["c"], p=case["p"], kernel=case["kernel"], masspoints=case["masspoints"])
    if case["fuzzy"]:
        kwargs["fuzzy"] = d[case["fuzzy"]].to_numpy(float)
    if case["cluster"]:
        kwargs["cluster"] = pd.factorize(d[case["cluster"]])[0]
    if case["h"] is not None:
        kwargs["h"] = case["h"]
    if case["b"] is not None:
        kwargs["b"] = case["b"]
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdrobust(d[case["y"]].to_numpy(float), d[case["x"]].to_numpy(float), **kwargs)


def check(case, spel, work):
    out = run_spel(spel, work, case["data"], lambda path: spel_program(case, path))
    try:
        ref = reference(case)
    except Exception as refusal:  # rdrobust refuses the data: spel must too
        if out.returncode == 0:
            return [f"rdrobust refused ({refusal}) but spel answered"]
        if "panicked" in out.stderr or "[spel::" not in out.stderr:
            return [f"spel failed without a located error: {out.stderr.strip()[:300]}"]
        case["refused"] = True
        return []
    if out.returncode != 0:
        return [f"spel failed: {out.stderr.strip()[:500]}"]
    estimates, sides = values(out)[-2:]
    problems = []
    rows = {(r[0], r[1]): dict(zip(estimates["columns"], r)) for r in estimates["rows"]}
    stages = [(case["y"], ref.coef.iloc[:, 0], ref.se.iloc[:, 0], ref.ci)]
    if case["fuzzy"]:
        stages.append((case["fuzzy"], ref.tau_T.iloc[:, 0], ref.se_T.iloc[:, 0], ref.ci_T))
    for term, coef, se, ci in stages:
        for i, method in enumerate(ROWS):
            row = rows.get((term, method))
            if row is None:
                problems.append(f"no row {term} {method}")
                continue
            for what, ours, theirs in (("estimate", row["estimate"], coef.iloc[i]),
                                       ("std_error", row["std_error"], se.iloc[i]),
                                       ("conf_low", row["conf_low"], ci.iloc[i, 0]),
                                       ("conf_high", row["conf_high"], ci.iloc[i, 1])):
                if not close(ours, theirs, 1e-8):
                    problems.append(f"{term} {method} {what}: spel {ours!r}, rdrobust {theirs!r}")
    side_rows = [dict(zip(sides["columns"], r)) for r in sides["rows"]]
    for j, side in enumerate(side_rows):
        for what, ours, theirs in (("h", side["h"], ref.bws.iloc[0, j]), ("b", side["b"], ref.bws.iloc[1, j]),
                                   ("within_h", side["within_h"], ref.N_h[j]),
                                   ("within_b", side["within_b"], ref.N_b[j]),
                                   ("rows", side["rows"], ref.N[j])):
            if not close(ours, theirs, 1e-8):
                problems.append(f"{side['side']} {what}: spel {ours!r}, rdrobust {theirs!r}")
    return problems


def tally(passed, cases):
    refused = sum(1 for case in cases if case.get("refused"))
    return (f"{passed} of {len(cases)} regression discontinuities equal rdrobust's "
            f"({refused} of them data both refuse)")


if __name__ == "__main__":
    main(
        lambda rng, count: senate_cases() + [random_case(rng, k) for k in range(count)],
        check,
        lambda case: spel_program(case, "data.csv").splitlines()[1],
        tally,
    )
