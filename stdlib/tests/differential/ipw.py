"""Inverse probability weighting by spel's `ipw` against an independent computation.

The reference: statsmodels' logit for the propensity, the normalised (Hájek) weighted
means, and the standard errors of Stata's `teffects ipw` from the stacked estimating
equations ψ = [x(t − p), w1(y − μ1), w0(y − μ0)] — their Jacobian taken here by central
differences, not by the derivatives spel uses — as A⁻¹ B A⁻ᵀ.

First the NSW trainees against the CPS comparison group (examples/data/nsw_cps.csv;
Dehejia and Wahba's covariates), ATT and ATE, trimmed and not; then random seeded cases:
60 to 3,000 rows, one to five covariates, a treatment drawn from a logit of them, ATE or
ATT, trimmed in some. Compared: the effect, both weighted means and the three standard
errors (1e-6 relative), and the rows left by trimming. Where nothing is trimmed, `balance`
after `ipw ..., show = weights` too: each covariate's weighted difference and variance
ratio against cobalt's formulas (1e-8).
"""
import os
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm

from harness import close, main, run_spel, values

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
DW = ["age", "age2", "educ", "black", "hisp", "marr", "nodegree", "re74", "re75"]


def nsw_cases():
    d = pd.read_csv(os.path.join(ROOT, "examples", "data", "nsw_cps.csv"))
    d = d[(d.treat == 1) | (d["sample"] == "CPS")].copy()
    d["age2"] = d.age ** 2
    d["re74"] = d.re74 / 1000
    d["re75"] = d.re75 / 1000
    cases = []
    for estimand in ("att", "ate"):
        for trim in (None, 0.01):
            cases.append({"name": f"NSW-CPS {estimand} trim {trim}", "data": d, "y": "re78", "t": "treat",
                          "x": DW, "estimand": estimand, "trim": trim})
    return cases


def random_case(rng, k):
    n = int(rng.integers(60, 3001))
    m = int(rng.integers(1, 6))
    data = {}
    eta = rng.normal(-0.5, 0.5) * np.ones(n)
    for j in range(m):
        x = np.round(rng.normal(rng.normal(0, 2), rng.uniform(0.5, 3), n), 4)
        data[f"x{j + 1}"] = x
        eta += rng.normal(0, 0.6) * (x - x.mean()) / x.std()
    t = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    if t.sum() < 3 or t.sum() > n - 3:
        t[:3], t[-3:] = 1, 0
    data["t"] = t
    y = 2 + 1.5 * t + sum(rng.normal(0, 1) * data[f"x{j + 1}"] for j in range(m)) + rng.normal(0, 2, n)
    data["y"] = np.round(y, 4)
    return {"name": f"random {k} (n = {n})", "data": pd.DataFrame(data), "y": "y", "t": "t",
            "x": [f"x{j + 1}" for j in range(m)], "estimand": str(rng.choice(["ate", "att"])),
            "trim": 0.02 if rng.random() < 0.2 else None}


def spel_program(case, path):
    covariates = ", ".join(case["x"])
    trim = f", trim = {case['trim']}" if case["trim"] else ""
    return (f'read "{path}" |> ipw {case["y"]} ~ {case["t"]}, covariates = [{covariates}], '
            f'estimand = {case["estimand"]}{trim}\n')


def psi(theta, X, t, y, estimand):
    """The stacked estimating functions, one row per observation."""
    k = X.shape[1]
    gamma, mu1, mu0 = theta[:k], theta[k], theta[k + 1]
    p = 1 / (1 + np.exp(-X @ gamma))
    if estimand == "ate":
        w1, w0 = t / p, (1 - t) / (1 - p)
    else:
        w1, w0 = t.astype(float), (1 - t) * p / (1 - p)
    return np.column_stack([X * (t - p)[:, None], w1 * (y - mu1), w0 * (y - mu0)])


def reference(case):
    d = case["data"]
    y, t = d[case["y"]].to_numpy(float), d[case["t"]].to_numpy(int)
    X = sm.add_constant(d[case["x"]].to_numpy(float), has_constant="add")
    kept = np.ones(len(y), bool)
    for _ in range(2 if case["trim"] else 1):
        with warnings.catch_warnings():
            # Newton's steps stall below this tolerance in rounding: the fit is converged.
            warnings.simplefilter("ignore")
            gamma = sm.Logit(t[kept], X[kept]).fit(disp=0, method="newton", tol=1e-14, maxiter=200).params
        p = 1 / (1 + np.exp(-X @ gamma))
        if case["trim"] and _ == 0:
            kept = (p >= case["trim"]) & (p <= 1 - case["trim"])
    X, t, y, p = X[kept], t[kept], y[kept], p[kept]
    if case["estimand"] == "ate":
        w1, w0 = t / p, (1 - t) / (1 - p)
    else:
        w1, w0 = t.astype(float), (1 - t) * p / (1 - p)
    mu1, mu0 = np.sum(w1 * y) / np.sum(w1), np.sum(w0 * y) / np.sum(w0)
    theta = np.r_[gamma, mu1, mu0]
    A = np.zeros((len(theta), len(theta)))
    for j in range(len(theta)):
        h = 1e-6 * max(1.0, abs(theta[j]))
        up, down = theta.copy(), theta.copy()
        up[j] += h
        down[j] -= h
        A[:, j] = -(psi(up, X, t, y, case["estimand"]).sum(0) - psi(down, X, t, y, case["estimand"]).sum(0)) / (2 * h)
    S = psi(theta, X, t, y, case["estimand"])
    V = np.linalg.inv(A) @ (S.T @ S) @ np.linalg.inv(A).T
    k = len(gamma)
    return {"weights": w1 + w0,
            "effect": (mu1 - mu0, np.sqrt(V[k, k] + V[k + 1, k + 1] - 2 * V[k, k + 1])),
            "treated": (mu1, np.sqrt(V[k, k])), "control": (mu0, np.sqrt(V[k + 1, k + 1])),
            "rows": int(kept.sum())}


def balance_reference(case, weights):
    """cobalt's balance by its formulas: differences standardised by the unweighted
    pooled (ATE) or treated (ATT) sd, raw for 0/1 covariates; variance ratios with the
    reliability-weights variance."""
    d = case["data"]
    t = d[case["t"]].to_numpy(int) == 1
    out = {}
    for name in case["x"]:
        x = d[name].to_numpy(float)
        binary = set(np.unique(x)) <= {0.0, 1.0}

        def moments(mask, w):
            w = w[mask]
            m = np.sum(w * x[mask]) / w.sum()
            v = np.sum(w * (x[mask] - m) ** 2) / (w.sum() - np.sum(w ** 2) / w.sum())
            return m, v

        ones = np.ones(len(x))
        s1, s0 = moments(t, ones)[1], moments(~t, ones)[1]
        scale = np.sqrt(s1) if case["estimand"] == "att" else np.sqrt((s1 + s0) / 2)
        (m1, v1), (m0, v0) = moments(t, weights), moments(~t, weights)
        out[name] = (m1 - m0 if binary else (m1 - m0) / scale, None if binary else v1 / v0)
    return out


def check_balance(case, spel, work):
    """`balance` after `ipw ..., show = weights`, against balance_reference."""
    if case["trim"]:
        return []
    covariates = ", ".join(case["x"])
    program = lambda path: (  # noqa: E731
        f'w = read "{path}" |> ipw {case["y"]} ~ {case["t"]}, covariates = [{covariates}], '
        f'estimand = {case["estimand"]}, show = weights\n'
        f'w |> balance {case["t"]} ~ {" + ".join(case["x"])}, weights = weight, estimand = {case["estimand"]}\n')
    out = run_spel(spel, work, case["data"], program)
    if out.returncode != 0:
        return [f"balance failed: {out.stderr.strip()[:400]}"]
    table = values(out)[-1]
    rows = {r[0]: dict(zip(table["columns"], r)) for r in table["rows"]}
    problems = []
    # Balance does not change when a group's weights are scaled: the reference's own
    # (unnormalised) weights serve.
    ref = balance_reference(case, reference(case)["weights"])
    for name, (diff, ratio) in ref.items():
        row = rows[name]
        if not close(row["diff_after"], diff, 1e-8):
            problems.append(f"balance {name} diff_after: spel {row['diff_after']}, reference {diff}")
        if ratio is not None and not close(row["vratio_after"], ratio, 1e-8):
            problems.append(f"balance {name} vratio_after: spel {row['vratio_after']}, reference {ratio}")
    return problems


def check(case, spel, work):
    out = run_spel(spel, work, case["data"], lambda path: spel_program(case, path))
    if out.returncode != 0:
        return [f"spel failed: {out.stderr.strip()[:400]}"]
    result = values(out)[-1]
    rows = [dict(zip(result["columns"], r)) for r in result["rows"]]
    ref = reference(case)
    problems = []
    for row, key in zip(rows, ("effect", "treated", "control")):
        for what, ours, theirs, tol in (("estimate", row["estimate"], ref[key][0], 1e-8),
                                        ("std_error", row["std_error"], ref[key][1], 1e-6)):
            if not close(ours, theirs, tol):
                problems.append(f"{row['term']} {what}: spel {ours!r}, reference {theirs!r}")
    # The title ends "N treated, M untreated": the rows the estimate is for.
    counts = [int(word.replace(",", "")) for word in result["title"].split("; ")[-1].split() if word[0].isdigit()]
    if sum(counts) != ref["rows"]:
        problems.append(f"rows used: spel {counts}, reference {ref['rows']}")
    return problems


if __name__ == "__main__":
    main(
        lambda rng, count: nsw_cases() + [random_case(rng, k) for k in range(count)],
        lambda case, spel, work: check(case, spel, work) + check_balance(case, spel, work),
        lambda case: spel_program(case, "data.csv").strip(),
        lambda passed, cases: f"{passed} of {len(cases)} weighted effects (and their balance) equal the reference",
    )
