"""Synthetic control by spel's `synth`, judged as the nested problem allows: by the fit
reached before treatment, against the reference implementations.

Proposition 99 (examples/data/smoking.csv), Abadie, Diamond and Hainmueller's (2010)
specification: the root mean squared gap before 1989 must be no worse than Stata's
`synth, nested` reaches (1.75412055, stored in Stata synth's own test baseline) and the
donors with weight above 0.01 exactly Colorado, Connecticut, Montana, Nevada and Utah,
each within 0.005 of Stata's weights. Without predictors (the outcome path fitted
directly, a convex problem with one answer): the weights and the fit against scipy's
SLSQP on the same least squares (1e-5 and 1e-7).

Then random seeded panels (5 to 14 donors, 12 to 24 periods, 2 to 4 predictors, the
treated unit inside or outside the donors' hull): with predictors, spel's fit must be no
worse than pysyncon's V gives (the Python synthetic-control package, both its starts, the
better kept, its V with the exact donor weights for it) — the outer problem has local optima, so pysyncon may do better in at most one
case in ten and by less than half, each such case printed; where pysyncon's V gives a
predictor a weight below 1e-6 it has solved the problem without that predictor, and the
case is printed, not compared. Without predictors, spel's weights and fit must equal
SLSQP's.
"""
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from harness import close, main, run_spel, values
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ADH = ("mean(lnincome, 1980, 1988), mean(retprice, 1980, 1988), mean(age15to24, 1980, 1988), "
       "mean(beer, 1984, 1988), mean(cigsale, 1975), mean(cigsale, 1980), mean(cigsale, 1988)")
STATA_RMSPE = 1.75412055
WORSE = []
ALLOWED_WORSE = [0]
STATA_WEIGHTS = {"Colorado": 0.161, "Connecticut": 0.068, "Montana": 0.202, "Nevada": 0.235, "Utah": 0.334}


def simplex_fit(Z1, Z0):
    """argmin ‖Z1 − Z0 w‖² on the simplex, by SLSQP from the equal weights."""
    J = Z0.shape[1]
    scale = np.sum(Z1 ** 2)
    result = minimize(lambda w: np.sum((Z1 - Z0 @ w) ** 2) / scale, np.full(J, 1 / J),
                      jac=lambda w: -2 * Z0.T @ (Z1 - Z0 @ w) / scale, method="SLSQP",
                      bounds=[(0, 1)] * J, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                      options={"ftol": 1e-16, "maxiter": 2000})
    return result.x


def predictor_matrix(d, predictors):
    """Each unit's predictors (units × K): the mean of each window, missing skipped."""
    columns = []
    for var, lo, hi in predictors:
        window = d[(d.time >= lo) & (d.time <= hi)]
        columns.append(window.groupby("unit")[var].mean())
    return pd.concat(columns, axis=1).sort_index()


def exact_fit(d, treated, start, predictors, v):
    """The RMSPE of the exact donor weights for predictor weights v: SLSQP run to
    convergence on Synth's scaled problem (the treated unit in the scaling sd)."""
    X = predictor_matrix(d, predictors)
    X = X / X.std(ddof=1)
    donors = [u for u in X.index if u != treated]
    A = X.loc[donors].to_numpy().T * np.sqrt(v)[:, None]
    b = X.loc[treated].to_numpy() * np.sqrt(v)
    w = simplex_fit(b, A)
    wide = d.pivot(index="time", columns="unit", values="y")
    pre = wide[wide.index < start]
    return float(np.sqrt(np.mean((pre[treated].to_numpy() - pre[donors].to_numpy() @ w) ** 2)))


def pysyncon_rmspe(d, treated, start, predictors):
    """pysyncon's V (the better of its two starts, equal and regression), with the exact
    donor weights for it: pysyncon's own inner solver (SLSQP at its default tolerance)
    can stop short, and its fit would then reflect that rather than its V."""
    from pysyncon import Dataprep, Synth
    times = sorted(d.time.unique())
    pre = [t for t in times if t < start]
    special = [(var, [t for t in times if lo <= t <= hi], "mean") for var, lo, hi in predictors]
    dp = Dataprep(foo=d, predictors=[], predictors_op="mean", dependent="y", unit_variable="unit",
                  time_variable="time", treatment_identifier=treated,
                  controls_identifier=[u for u in sorted(d.unit.unique()) if u != treated],
                  time_predictors_prior=pre, time_optimize_ssr=pre, special_predictors=special)
    best, v = np.inf, None
    for start_at in ("equal", "ols"):
        s = Synth()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                s.fit(dataprep=dp, optim_method="Nelder-Mead", optim_initial=start_at)
            except (ValueError, np.linalg.LinAlgError):
                continue
        if s.loss_V < best:
            best, v = s.loss_V, np.asarray(s.V, dtype=float)
    return exact_fit(d, treated, start, predictors, v), v


def prop99_cases():
    d = pd.read_csv(os.path.join(ROOT, "examples", "data", "smoking.csv"))
    d = d.rename(columns={"state": "unit", "year": "time", "cigsale": "y"})
    return [{"name": "Proposition 99, ADH's predictors", "data": d, "treated": "California", "start": 1989,
             "predictors": "adh"},
            {"name": "Proposition 99, outcome path", "data": d, "treated": "California", "start": 1989,
             "predictors": None}]


def random_case(rng, k):
    donors = int(rng.integers(5, 15))
    periods = int(rng.integers(12, 25))
    start = int(rng.integers(periods // 2 + 2, periods - 1))
    factors = rng.normal(0, 1, (periods, 2)).cumsum(axis=0)
    loadings = rng.normal(0, 1, (donors, 2))
    level = rng.normal(10, 3, donors)
    paths = level[:, None] + loadings @ factors.T + rng.normal(0, 0.5, (donors, periods))
    w = rng.dirichlet(np.ones(3))
    chosen = rng.choice(donors, 3, replace=False)
    treated = w @ paths[chosen] + rng.normal(0, 0.3, periods)
    if rng.random() < 0.3:
        treated += rng.normal(0, 4)  # outside the hull
    treated[start:] += 3
    x1 = rng.normal(0, 1, (donors + 1, 1)) * 2 + 5
    rows = []
    for u in range(donors + 1):
        path = treated if u == 0 else paths[u - 1]
        for t in range(periods):
            rows.append({"unit": f"u{u:02d}", "time": 2000 + t, "y": round(float(path[t]), 6),
                         "x1": round(float(x1[u, 0] + rng.normal(0, 0.1)), 6),
                         "x2": round(float(rng.normal(path.mean(), 1)), 6)})
    npred = int(rng.integers(2, 5))
    pre_end = 2000 + start - 1
    pool = [("x1", 2000, pre_end), ("x2", 2000, pre_end), ("y", 2000, 2000), ("y", pre_end, pre_end),
            ("y", 2000 + start // 2, pre_end)]
    chosen_predictors = [pool[i] for i in sorted(rng.choice(len(pool), npred, replace=False))]
    return {"name": f"random {k} ({donors} donors, {periods} periods)", "data": pd.DataFrame(rows),
            "treated": "u00", "start": 2000 + start,
            "predictors": None if rng.random() < 0.35 else chosen_predictors}


def predictor_text(case):
    if case["predictors"] == "adh":
        return ADH.replace("cigsale", "y")
    return ", ".join(f"mean({v}, {lo}, {hi})" for v, lo, hi in case["predictors"])


def spel_program(case, path):
    preds = f", predictors = [{predictor_text(case)}]" if case["predictors"] else ""
    call = (f'synth y, unit = unit, time = time, treated = "{case["treated"]}", '
            f'start = {case["start"]}{preds}')
    return f'd = read "{path}"\nd |> {call}, show = weights\nd |> {call}, show = paths\n'


def check(case, spel, work):
    out = run_spel(spel, work, case["data"], lambda path: spel_program(case, path))
    if out.returncode != 0:
        return [f"spel failed: {out.stderr.strip()[:400]}"]
    weights_table, paths_table = values(out)[-2], values(out)[-1]
    weights = {r[0]: r[1] for r in weights_table["rows"]}
    paths = pd.DataFrame(paths_table["rows"], columns=paths_table["columns"])
    pre = paths[paths.time < case["start"]]
    rmspe = float(np.sqrt(np.mean(pre.gap ** 2)))
    problems = []
    if abs(sum(weights.values()) - 1) > 1e-9 or min(weights.values()) < 0:
        problems.append(f"the weights are not on the simplex: sum {sum(weights.values())}, min {min(weights.values())}")
    d = case["data"]
    if case["predictors"] == "adh":
        if rmspe > STATA_RMSPE:
            problems.append(f"RMSPE before 1989: spel {rmspe}, Stata's nested {STATA_RMSPE}")
        used = {u for u, w in weights.items() if w > 0.01}
        if used != set(STATA_WEIGHTS):
            problems.append(f"donors with weight above 0.01: spel {sorted(used)}")
        for unit, w in STATA_WEIGHTS.items():
            if abs(weights.get(unit, 0) - w) > 0.005:
                problems.append(f"{unit}: spel {weights.get(unit)}, Stata {w}")
    elif case["predictors"] is None:
        wide = d.pivot(index="time", columns="unit", values="y")
        donors = [u for u in wide.columns if u != case["treated"]]
        fit = wide[wide.index < case["start"]]
        w = simplex_fit(fit[case["treated"]].to_numpy(), fit[donors].to_numpy())
        reference = float(np.sqrt(np.mean((fit[case["treated"]].to_numpy() - fit[donors].to_numpy() @ w) ** 2)))
        if rmspe > reference * (1 + 1e-7) + 1e-12:
            problems.append(f"RMSPE: spel {rmspe}, SLSQP {reference}")
        for u, ref in zip(donors, w):
            if abs(weights[u] - ref) > 1e-5:
                problems.append(f"weight of {u}: spel {weights[u]}, SLSQP {ref}")
                break
    else:
        reference, v = pysyncon_rmspe(d, case["treated"], case["start"], case["predictors"])
        if v is not None and np.min(v) < 1e-6:
            # pysyncon's V all but drops a predictor: the problem it solved is the one
            # without that predictor, not this one.
            print(f"   note: {case['name']}: pysyncon's V drops a predictor ({np.min(v):.2g}); not compared")
        elif rmspe > reference * (1 + 1e-6) + 1e-9:
            # The outer problem has local optima: pysyncon may find a better V now and
            # then. Allowed in at most one nested case in ten, and never by more than half.
            WORSE.append(case["name"])
            print(f"   note: {case['name']}: spel {rmspe:.6g}, pysyncon {reference:.6g}")
            if rmspe > 1.5 * reference or len(WORSE) > ALLOWED_WORSE[0]:
                problems.append(f"RMSPE: spel {rmspe}, pysyncon {reference} "
                                f"({len(WORSE)} cases worse than pysyncon so far)")
    # The paths: the treated outcome as given, the synthetic one the weighted donors.
    wide = d.pivot(index="time", columns="unit", values="y")
    synthetic = sum(wide[u] * w for u, w in weights.items())
    if not np.allclose(paths.synthetic.to_numpy(), synthetic.to_numpy(), rtol=1e-10, atol=1e-9):
        problems.append("the synthetic path is not the weighted donors")
    return problems


def cases_for(rng, count):
    cases = [random_case(rng, k) for k in range(count)]
    nested = sum(1 for c in cases if c["predictors"])
    ALLOWED_WORSE[0] = nested // 10
    return prop99_cases() + cases


if __name__ == "__main__":
    main(
        cases_for,
        check,
        lambda case: spel_program(case, "data.csv").strip().splitlines()[1],
        lambda passed, cases: f"{passed} of {len(cases)} synthetic controls fit as well as the references",
    )
