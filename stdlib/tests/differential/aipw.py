"""Augmented inverse probability weighting by spel's `aipw` against an independent
computation of Stata's `teffects aipw`.

The reference: the treatment model by Newton's method (logit, or probit for the check
against Stata), least squares of the outcome in each group, the unnormalised augmented
means, and the standard errors A⁻¹ B A⁻ᵀ of the stacked estimating equations
(treatment-model scores, both groups' normal equations, the two means) — the Jacobian
taken here by central differences, not by the derivatives spel uses.

First the reference itself is checked against Stata's own output, which statsmodels
ships with its tests: `teffects aipw (bweight prenatal1 mmarried mage fbaby) (mbsmoke
mmarried c.mage##c.mage fbaby medu, probit)` on cattaneo2, all 18 estimates and
standard errors (1e-6 relative). Then spel against the reference (logit, spel's model):
cattaneo2 with those two lists, the NSW experiment, NSW trainees against the CPS
trimmed, and random seeded cases — 80 to 3,000 rows, one to four covariates, different
lists for the two models in some, trimmed in some. Where the reference finds a
propensity within 1e-5 of 0 or 1, spel must refuse (spel::aipw::overlap), as Stata does.
"""
import os
import warnings

import numpy as np
import pandas as pd
from scipy import stats
import statsmodels

from harness import close, main, run_spel, values

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
STATA = os.path.join(os.path.dirname(statsmodels.__file__), "treatment", "tests", "results")
DW = ["age", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"]


def propensity(eta, link):
    return 1 / (1 + np.exp(-eta)) if link == "logit" else stats.norm.cdf(eta)


def score_weight(eta, t, link):
    if link == "logit":
        return t - propensity(eta, link)
    lam1 = np.exp(stats.norm.logpdf(eta) - stats.norm.logcdf(eta))
    lam0 = np.exp(stats.norm.logpdf(eta) - stats.norm.logsf(eta))
    return t * lam1 - (1 - t) * lam0


def fit_treatment(z, t, link):
    """Maximum likelihood by Newton's method, the Hessian by differences of the score."""
    gamma = np.zeros(z.shape[1])
    score = lambda g: z.T @ score_weight(z @ g, t, link)  # noqa: E731
    for _ in range(100):
        s = score(gamma)
        hessian = np.column_stack([(score(gamma + h) - score(gamma - h)) / 2e-7
                                   for h in np.eye(len(gamma)) * 1e-7])
        step = np.linalg.solve(-hessian, s)
        gamma = gamma + step
        if np.max(np.abs(step) / np.maximum(np.abs(gamma), 1)) < 1e-12:
            break
    return gamma


def moments(theta, y, t, x, z, link):
    """ψ per row for θ = (γ, β0, β1, μ0, μ1)."""
    kz, kx = z.shape[1], x.shape[1]
    gamma, b0, b1 = theta[:kz], theta[kz:kz + kx], theta[kz + kx:kz + 2 * kx]
    mu0, mu1 = theta[-2], theta[-1]
    eta = z @ gamma
    p = propensity(eta, link)
    m0, m1 = x @ b0, x @ b1
    return np.column_stack([
        z * score_weight(eta, t, link)[:, None],
        x * ((1 - t) * (y - m0))[:, None],
        x * (t * (y - m1))[:, None],
        m0 + (1 - t) * (y - m0) / (1 - p) - mu0,
        m1 + t * (y - m1) / p - mu1,
    ])


def reference(y, t, x, z, link="logit"):
    gamma = fit_treatment(z, t, link)
    p = propensity(z @ gamma, link)
    b0 = np.linalg.lstsq(x[t == 0], y[t == 0], rcond=None)[0]
    b1 = np.linalg.lstsq(x[t == 1], y[t == 1], rcond=None)[0]
    m0, m1 = x @ b0, x @ b1
    mu0 = np.mean(m0 + (1 - t) * (y - m0) / (1 - p))
    mu1 = np.mean(m1 + t * (y - m1) / p)
    theta = np.r_[gamma, b0, b1, mu0, mu1]
    A = np.zeros((len(theta), len(theta)))
    for j in range(len(theta)):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        A[:, j] = (moments(up, y, t, x, z, link).sum(0) - moments(down, y, t, x, z, link).sum(0)) / (2 * h)
    S = moments(theta, y, t, x, z, link)
    V = np.linalg.inv(A) @ (S.T @ S) @ np.linalg.inv(A).T
    se = np.sqrt(np.diag(V))
    return {"theta": theta, "se": se, "p": p,
            "effect": (mu1 - mu0, np.sqrt(V[-1, -1] + V[-2, -2] - 2 * V[-1, -2])),
            "treated": (mu1, se[-1]), "control": (mu0, se[-2])}


def design(d, names):
    return np.column_stack([np.ones(len(d))] + [d[c].to_numpy(float) for c in names])


def cattaneo():
    d = pd.read_csv(os.path.join(STATA, "cataneo2.csv"))
    d = pd.DataFrame({"bweight": d.bweight, "smoker": d.mbsmoke_, "married": d.mmarried_,
                      "first": d.fbaby_, "prenatal1": d.prenatal1_, "mage": d.mage,
                      "mage2": d.mage2, "medu": d.medu})
    return d, ["prenatal1", "married", "mage", "first"], ["married", "mage", "mage2", "first", "medu"]


def check_reference_against_stata():
    """The reference, with Stata's probit, reproduces Stata's published table."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("results", os.path.join(STATA, "results_teffects.py"))
    results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(results)
    d, outcome, treatment = cattaneo()
    r = reference(d.bweight.to_numpy(float), d.smoker.to_numpy(float), design(d, outcome),
                  design(d, treatment), "probit")
    kz, kx = len(treatment) + 1, len(outcome) + 1
    theta, se = r["theta"], r["se"]
    last_first = lambda v: np.r_[v[1:], v[:1]]  # noqa: E731  Stata puts _cons last
    ours_b = np.r_[r["effect"][0], r["control"][0], last_first(theta[kz:kz + kx]),
                   last_first(theta[kz + kx:kz + 2 * kx]), last_first(theta[:kz])]
    ours_se = np.r_[r["effect"][1], r["control"][1], last_first(se[kz:kz + kx]),
                    last_first(se[kz + kx:kz + 2 * kx]), last_first(se[:kz])]
    table = results.results_aipw.table
    problems = []
    for i, name in enumerate(results.results_aipw.table_rownames):
        for what, ours, stata in (("b", ours_b[i], table[i, 0]), ("se", ours_se[i], table[i, 1])):
            if not close(ours, stata, 1e-6):
                problems.append(f"reference {name} {what}: {ours!r}, Stata {stata!r}")
    return problems


def nsw():
    d = pd.read_csv(os.path.join(ROOT, "examples", "data", "nsw_cps.csv"))
    d["age2"] = d.age ** 2
    return d


def fixed_cases():
    d, outcome, treatment = cattaneo()
    full = nsw()
    return [
        {"name": "cattaneo2 (logit)", "data": d, "y": "bweight", "t": "smoker", "x": treatment,
         "ox": outcome, "trim": None},
        {"name": "NSW experiment", "data": full[full["sample"] == "NSW"], "y": "re78", "t": "treat",
         "x": DW, "ox": DW, "trim": None},
        {"name": "NSW-CPS (refused)", "data": full[(full.treat == 1) | (full["sample"] == "CPS")],
         "y": "re78", "t": "treat", "x": DW + ["age2"], "ox": DW + ["age2"], "trim": None},
        {"name": "NSW-CPS trimmed", "data": full[(full.treat == 1) | (full["sample"] == "CPS")],
         "y": "re78", "t": "treat", "x": DW + ["age2"], "ox": DW + ["age2"], "trim": 0.01},
    ]


def random_case(rng, k):
    n = int(rng.integers(80, 3001))
    m = int(rng.integers(1, 5))
    data = {}
    eta = rng.normal(-0.3, 0.5) * np.ones(n)
    for j in range(m):
        x = np.round(rng.normal(rng.normal(0, 2), rng.uniform(0.5, 3), n), 4)
        data[f"x{j + 1}"] = x
        eta += rng.normal(0, 0.7) * (x - x.mean()) / x.std()
    t = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    t[:6], t[-6:] = 1, 0
    data["t"] = t
    y = 2 + 1.5 * t + sum(rng.normal(0, 1) * data[f"x{j + 1}"] for j in range(m)) + rng.normal(0, 2, n)
    data["y"] = np.round(y, 4)
    names = [f"x{j + 1}" for j in range(m)]
    # Some cases give the outcome model its own list: a subset, or one more term.
    outcome = names
    if m > 1 and rng.random() < 0.3:
        outcome = names[: m - 1]
    return {"name": f"random {k} (n = {n})", "data": pd.DataFrame(data), "y": "y", "t": "t",
            "x": names, "ox": outcome, "trim": 0.02 if rng.random() < 0.2 else None}


def spel_program(case, path):
    own = f", outcome_covariates = [{', '.join(case['ox'])}]" if case["ox"] != case["x"] else ""
    trim = f", trim = {case['trim']}" if case["trim"] else ""
    return (f'read "{path}" |> aipw {case["y"]} ~ {case["t"]}, covariates = [{", ".join(case["x"])}]'
            f'{own}{trim}\n')


def expected(case):
    d = case["data"]
    y, t = d[case["y"]].to_numpy(float), d[case["t"]].to_numpy(float)
    x, z = design(d, case["ox"]), design(d, case["x"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if case["trim"]:
            p = propensity(z @ fit_treatment(z, t, "logit"), "logit")
            kept = (p >= case["trim"]) & (p <= 1 - case["trim"])
            y, t, x, z = y[kept], t[kept], x[kept], z[kept]
        r = reference(y, t, x, z)
    r["rows"] = len(y)
    r["refused"] = bool(np.any((r["p"] < 1e-5) | (r["p"] > 1 - 1e-5)))
    return r


def check(case, spel, work):
    if case.get("stata"):
        return check_reference_against_stata()
    out = run_spel(spel, work, case["data"], lambda path: spel_program(case, path))
    ref = expected(case)
    if ref["refused"]:
        if out.returncode == 0 or "spel::aipw::overlap" not in out.stderr:
            return [f"the reference has propensities within 1e-5 of 0 or 1; spel: {out.stderr.strip()[:300] or 'an estimate'}"]
        return []
    if out.returncode != 0:
        return [f"spel failed: {out.stderr.strip()[:400]}"]
    result = values(out)[-1]
    rows = [dict(zip(result["columns"], r)) for r in result["rows"]]
    problems = []
    for row, key in zip(rows, ("effect", "treated", "control")):
        for what, ours, theirs, tol in (("estimate", row["estimate"], ref[key][0], 1e-8),
                                        ("std_error", row["std_error"], ref[key][1], 1e-6)):
            if not close(ours, theirs, tol):
                problems.append(f"{row['term']} {what}: spel {ours!r}, reference {theirs!r}")
    counts = [int(w.replace(",", "")) for w in result["title"].split("; ")[-1].split() if w[0].isdigit()]
    if sum(counts) != ref["rows"]:
        problems.append(f"rows used: spel {counts}, reference {ref['rows']}")
    return problems


if __name__ == "__main__":
    main(
        lambda rng, count: [{"name": "the reference against Stata's cattaneo2 table", "stata": True}]
        + fixed_cases() + [random_case(rng, k) for k in range(count)],
        check,
        lambda case: "" if case.get("stata") else spel_program(case, "data.csv").strip(),
        lambda passed, cases: f"{passed} of {len(cases)} doubly robust effects equal the reference",
    )
