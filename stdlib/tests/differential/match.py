"""Nearest-neighbour matching by spel's `match` against R's MatchIt 4.7.2 and an
independent matcher.

First, MatchIt's own output stored in matchit/matchit.json (made by matchit/make.R; not
Debian's MatchIt 4.5.1, whose matching ignores calipers and always takes the lower
neighbour): eight specifications on the NSW data — 1:1, calipers, 1:2, 1:3 with a
caliper, with replacement 1:1 and 1:2, the experiment. spel must give every treated row
the same controls (by matched set, or by weight with replacement), and the same estimate
(1e-8) and standard error (1e-6). The independent matcher below must agree with the
stored output too, which checks it.

Then random seeded cases, spel against the independent matcher: 60 to 2,500 rows, one to
four covariates, ratio 1 to 3, calipers and replacement in some. The matcher is written
from MatchIt's description, not from spel's code: for each treated row in decreasing
propensity, every available control's gap is computed and the nearest below and above
(in sorted order) are compared, the lower one winning a tie when it is no more positions
away; the effect is statsmodels' weighted least squares with errors clustered by matched
set (or HC3 with replacement).
"""
import json
import os
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from harness import close, main, run_spel, values

HERE = os.path.dirname(__file__)
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DW = ["age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"]


def propensity(d, t_name, x_names):
    X = sm.add_constant(d[x_names].to_numpy(float), has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.Logit(d[t_name].to_numpy(float), X).fit(disp=0, method="newton", tol=1e-14, maxiter=200)
    return 1 / (1 + np.exp(-X @ fit.params))


def match(p, treated, ratio, caliper_sds, replace):
    """Each treated row's controls (a dict), by brute force over the available ones."""
    n = len(p)
    width = np.inf if caliper_sds is None else caliper_sds * np.std(p, ddof=1)
    order_all = np.argsort(p, kind="stable")
    pos = np.empty(n, int)
    pos[order_all] = np.arange(n)
    available = np.ones(n, bool)
    matches = {i: [] for i in np.flatnonzero(treated)}
    done = set()
    ordered = sorted(matches, key=lambda i: (-p[i], i))

    def candidates(t, k):
        """Up to k nearest available controls, walking out from the span of t's matches."""
        span = [pos[t]] + [pos[c] for c in matches[t]]
        lo, hi = min(span), max(span)
        floor = max([abs(p[t] - p[order_all[q]]) for q in (lo, hi) if q != pos[t]], default=0.0)
        free = available & ~treated
        free[matches[t]] = False
        pool = np.flatnonzero(free)
        below = pool[pos[pool] < lo]
        below = below[np.argsort(-pos[below])]
        above = pool[pos[pool] > hi]
        above = above[np.argsort(pos[above])]

        def side(cs, start, sign):
            out = []
            for c in cs:
                gap = abs(p[t] - p[c])
                if gap > width:
                    break
                if gap < floor:
                    continue
                out.append((gap, 2 * abs(pos[c] - start) - (1 if sign < 0 else 0), c))
                if len(out) == k:
                    break
            return out

        found = side(below, lo, -1) + side(above, hi, +1)
        found.sort()
        return [c for _, _, c in found[:k]]

    if replace:
        for t in ordered:
            matches[t] = candidates(t, ratio)
        return matches
    for rnd in range(1, ratio + 1):
        for t in ordered:
            if t in done or not (available & ~treated).any():
                continue
            got = candidates(t, 1)
            if not got:
                if rnd == 1:
                    done.add(t)
                continue
            matches[t].append(got[0])
            available[got[0]] = False
    return matches


def weights_of(matches, treated):
    w = np.zeros(len(treated))
    for t, cs in matches.items():
        if cs:
            w[t] += 1
            for c in cs:
                w[c] += 1 / len(cs)
    control = (~treated) & (w > 0)
    w[control] *= control.sum() / w[control].sum()
    return w


def effect(y, treated, matches, replace):
    w = weights_of(matches, treated)
    used = w > 0
    X = sm.add_constant(treated[used].astype(float))
    fit = sm.WLS(y[used], X, weights=w[used])
    if replace:
        res = fit.fit(cov_type="HC3")
    else:
        subclass = np.full(len(y), -1)
        for k, t in enumerate(t for t in sorted(matches) if matches[t]):
            subclass[t] = k
            subclass[matches[t]] = k
        res = fit.fit(cov_type="cluster", cov_kwds={"groups": subclass[used]})
    return res.params[1], res.bse[1], w


def nsw_sample(which):
    d = pd.read_csv(os.path.join(ROOT, "examples", "data", "nsw_cps.csv"))
    keep = (d.treat == 1) | (d["sample"] == "CPS") if which == "cps" else d["sample"] == "NSW"
    return d[keep].reset_index(drop=True)


def stored_cases():
    cases = []
    for r in json.load(open(os.path.join(HERE, "matchit", "matchit.json"))):
        options = r["options"] if isinstance(r["options"], dict) else {}
        controls = [c if isinstance(c, list) else [c] for c in r["controls"]]
        cases.append({"name": f"MatchIt: {r['name']}", "data": nsw_sample(r["sample"]), "y": "re78", "t": "treat",
                      "x": DW, "ratio": options.get("ratio", 1), "caliper": options.get("caliper"),
                      "replace": options.get("replace", False),
                      "r": {"matches": {t - 1: [c - 1 for c in cs] for t, cs in zip(r["treated_rows"], controls)},
                            "estimate": r["estimate"], "std_error": r["std_error"]}})
    return cases


def random_case(rng, k):
    n = int(rng.integers(60, 2501))
    m = int(rng.integers(1, 5))
    data, eta = {}, rng.normal(-1.0, 0.5) * np.ones(n)
    for j in range(m):
        x = np.round(rng.normal(rng.normal(0, 2), rng.uniform(0.5, 3), n), 5)
        data[f"x{j + 1}"] = x
        eta += rng.normal(0, 0.8) * (x - x.mean()) / x.std()
    t = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    t[:3], t[-3:] = 1, 0
    data["t"] = t
    data["y"] = np.round(1 + 2 * t + sum(data[f"x{j + 1}"] for j in range(m)) + rng.normal(0, 2, n), 4)
    return {"name": f"random {k} (n = {n})", "data": pd.DataFrame(data), "y": "y", "t": "t",
            "x": [f"x{j + 1}" for j in range(m)], "ratio": int(rng.integers(1, 4)),
            "caliper": float(rng.choice([0.05, 0.2])) if rng.random() < 0.4 else None,
            "replace": bool(rng.random() < 0.3)}


def spel_program(case, path):
    extra = "".join([f", ratio = {case['ratio']}" if case["ratio"] != 1 else "",
                     f", caliper = {case['caliper']}" if case["caliper"] else "",
                     ", replace = true" if case["replace"] else ""])
    call = f'match {case["y"]} ~ {case["t"]}, covariates = [{", ".join(case["x"])}]{extra}'
    return f'd = read "{path}"\nd |> {call}\nd |> {call}, show = weights |> filter weight > 0\n'


def check(case, spel, work):
    d = case["data"]
    treated = d[case["t"]].to_numpy() == 1
    y = d[case["y"]].to_numpy(float)
    p = propensity(d, case["t"], case["x"])
    ours = match(p, treated, case["ratio"], case["caliper"], case["replace"])
    estimate, se, w = effect(y, treated, ours, case["replace"])
    problems = []
    if "r" in case:
        # The independent matcher against MatchIt first.
        r = case["r"]
        # The order of a treated row's controls does not matter (tied gaps).
        if {t: sorted(c) for t, c in ours.items()} != {t: sorted(c) for t, c in r["matches"].items()}:
            bad = [t for t in r["matches"] if sorted(ours.get(t, [])) != sorted(r["matches"][t])]
            problems.append(f"the reference matcher differs from MatchIt for {len(bad)} treated, e.g. row {bad[0]}: "
                            f"{ours.get(bad[0])} against {r['matches'][bad[0]]}")
        if not close(estimate, r["estimate"], 1e-8) or not close(se, r["std_error"], 1e-6):
            problems.append(f"the reference effect {estimate} ({se}) differs from MatchIt's {r['estimate']} ({r['std_error']})")
        expected_matches = r["matches"]
        estimate, se = r["estimate"], r["std_error"]
        w = weights_of(expected_matches, treated)
    else:
        expected_matches = ours
    out = run_spel(spel, work, d.assign(rowid=np.arange(len(d))), lambda path: spel_program(case, path))
    if out.returncode != 0:
        return problems + [f"spel failed: {out.stderr.strip()[:400]}"]
    summary, rows = values(out)[-2], values(out)[-1]
    att = dict(zip(summary["columns"], summary["rows"][0]))
    if not close(att["estimate"], estimate, 1e-8):
        problems.append(f"ATT: spel {att['estimate']!r}, expected {estimate!r}")
    if not close(att["std_error"], se, 1e-6):
        problems.append(f"std_error: spel {att['std_error']!r}, expected {se!r}")
    table = pd.DataFrame(rows["rows"], columns=rows["columns"])
    spel_w = np.zeros(len(d))
    spel_w[table["rowid"].to_numpy(int)] = table["weight"].to_numpy(float)
    if not np.allclose(spel_w, w, rtol=1e-12, atol=1e-12):
        problems.append(f"weights differ in {int(np.sum(~np.isclose(spel_w, w)))} rows")
    if not case["replace"]:
        subclass = dict(zip(table["rowid"], table["subclass"]))
        for t, cs in expected_matches.items():
            if any(subclass.get(c) != subclass.get(t) for c in cs):
                problems.append(f"treated row {t}: spel's matched set holds other controls than {cs}")
                break
    return problems


if __name__ == "__main__":
    main(
        lambda rng, count: stored_cases() + [random_case(rng, k) for k in range(count)],
        check,
        lambda case: spel_program(case, "data.csv").strip().splitlines()[1],
        lambda passed, cases: f"{passed} of {len(cases)} matchings and effects equal MatchIt and the reference matcher",
    )
