"""Two-stage least squares by spel's `iv` and by linearmodels' IV2SLS (debiased = True).

First Card's (1995) return to schooling (examples/data/card.csv; Wooldridge's Example
15.4): log wage on education instrumented by a four-year college nearby, then by both
colleges (over-identified), with classical, robust and clustered errors. Then random
seeded cases: 40 to 400 rows, one to three exogenous numbers, in some a factor as dummies
or absorbed (`fe()`, dummies for linearmodels), one or two endogenous terms with as many
instruments or more, weights in some, classical, robust or clustered errors.

Compared: every estimate and standard error (1e-8 relative), each first stage's partial
R² and F (linearmodels: the Wald statistic over q with the classical variance, the Wald
statistic itself otherwise), Wu–Hausman's F and Sargan's statistic (1e-7 relative).
"""
import os

import numpy as np
import pandas as pd
from linearmodels.iv import IV2SLS

from harness import close, main, run_spel, values

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CARD_EXOG = ["exper", "expersq", "black", "smsa", "south", "smsa66"] + [f"reg66{i}" for i in range(2, 10)]


def card_cases():
    data = pd.read_csv(os.path.join(ROOT, "examples", "data", "card.csv"))
    data["region"] = data[[f"reg66{i}" for i in range(1, 10)]].to_numpy().argmax(axis=1) + 1
    cases = []
    for instruments in (["nearc4"], ["nearc2", "nearc4"]):
        for se in ("classical", "robust", "cluster"):
            cases.append({
                "name": f"card {'+'.join(instruments)} {se}",
                "data": data,
                "outcome": "lwage",
                "exog": CARD_EXOG,
                "factor": None,
                "absorb": False,
                "endog": ["educ"],
                "instruments": instruments,
                "weights": None,
                "se": se,
                # Nine regions of 1966 as clusters: a check of the arithmetic only.
                "cluster": "region" if se == "cluster" else None,
            })
    return cases


def random_case(rng, k):
    n = int(rng.integers(40, 401))
    n_exog = int(rng.integers(1, 4))
    n_endog = int(rng.integers(1, 3))
    n_instr = n_endog + int(rng.integers(0, 3))
    data = {}
    u = rng.normal(0, 1, n)
    for j in range(n_exog):
        data[f"x{j + 1}"] = np.round(rng.normal(0, 2, n), 4)
    for j in range(n_instr):
        data[f"z{j + 1}"] = np.round(rng.normal(0, 1, n), 4)
    factor = None
    if rng.random() < 0.5:
        levels = int(rng.integers(3, 7))
        data["g"] = rng.choice([f"g{i}" for i in range(levels)], n)
        # Every level present, so that both tools see the same levels.
        data["g"][:levels] = [f"g{i}" for i in range(levels)]
        factor = "g"
    y = 1.0 + rng.normal(0, 1) * data["x1"] + u
    for e in range(n_endog):
        strength = rng.uniform(0.3, 2.0)
        x = 0.5 * data["x1"] + 0.8 * u + rng.normal(0, 1, n)
        for j in range(n_instr):
            x = x + (strength if j % n_endog == e else 0.2) * data[f"z{j + 1}"]
        data[f"d{e + 1}"] = np.round(x, 4)
        y = y + rng.normal(0, 1) * data[f"d{e + 1}"]
    if factor:
        effects = {f"g{i}": rng.normal(0, 1) for i in range(10)}
        y = y + np.array([effects[g] for g in data["g"]])
    data["y"] = np.round(y, 4)
    weights = None
    if rng.random() < 0.3:
        data["w"] = np.round(rng.uniform(0.5, 3, n), 3)
        weights = "w"
    se = str(rng.choice(["classical", "robust", "cluster"]))
    cluster = None
    if se == "cluster":
        data["cl"] = rng.integers(1, int(rng.integers(8, 21)) + 1, n)
        cluster = "cl"
    return {
        "name": f"random {k}",
        "data": pd.DataFrame(data),
        "outcome": "y",
        "exog": [f"x{j + 1}" for j in range(n_exog)],
        "factor": factor,
        "absorb": bool(factor) and rng.random() < 0.5,
        "endog": [f"d{e + 1}" for e in range(n_endog)],
        "instruments": [f"z{j + 1}" for j in range(n_instr)],
        "weights": weights,
        "se": se,
        "cluster": cluster,
    }


def listed(names):
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"


def spel_program(case, path):
    terms = list(case["exog"])
    if case["factor"]:
        terms.append(f"fe({case['factor']})" if case["absorb"] else f"factor({case['factor']})")
    options = [f"endogenous = {listed(case['endog'])}", f"instruments = {listed(case['instruments'])}"]
    if case["weights"]:
        options.append(f"weights = {case['weights']}")
    options.append(f"se = {case['se']}")
    if case["cluster"]:
        options.append(f"cluster = {case['cluster']}")
    return f'read "{path}" |> iv {case["outcome"]} ~ {" + ".join(terms)}, {", ".join(options)}\n'


def reference(case):
    d = case["data"]
    exog = d[case["exog"]].astype(float).copy()
    exog.insert(0, "const", 1.0)
    if case["factor"]:
        dummies = pd.get_dummies(d[case["factor"]], prefix=case["factor"], drop_first=True, dtype=float)
        exog = pd.concat([exog, dummies], axis=1)
    kwargs = {}
    if case["weights"]:
        kwargs["weights"] = d[case["weights"]]
    model = IV2SLS(d[case["outcome"]], exog, d[case["endog"]].astype(float), d[case["instruments"]].astype(float), **kwargs)
    cov = {"classical": "unadjusted", "robust": "robust", "cluster": "clustered"}[case["se"]]
    fit_kwargs = {"clusters": d[case["cluster"]]} if case["cluster"] else {}
    fit = model.fit(cov_type=cov, debiased=True, **fit_kwargs)
    first = fit.first_stage.diagnostics
    return fit, first


def check(case, spel, work):
    out = run_spel(spel, work, case["data"], lambda path: spel_program(case, path))
    if out.returncode != 0:
        return [f"spel failed: {out.stderr.strip()[:500]}"]
    result = values(out)[-1]
    fit, first = reference(case)
    problems = []
    terms = {t["term"]: t for t in result["terms"]}
    for name in list(case["exog"]) + list(case["endog"]):
        if name not in terms:
            problems.append(f"{name}: not among spel's terms {list(terms)}")
            continue
        for what, ours, theirs in (("estimate", terms[name]["estimate"], fit.params[name]),
                                   ("std_error", terms[name]["std_error"], fit.std_errors[name])):
            if not close(ours, theirs, 1e-8):
                problems.append(f"{name} {what}: spel {ours!r}, linearmodels {theirs!r}")
    if not case["absorb"] and not close(terms["(Intercept)"]["estimate"], fit.params["const"], 1e-8):
        problems.append("intercept differs")
    iv = result["instrumental"]
    q = len(case["instruments"])
    for stage in iv["first_stages"]:
        row = first.loc[stage["variable"]]
        if not close(stage["partial_r_squared"], row["partial.rsquared"], 1e-7):
            problems.append(f"first stage {stage['variable']} partial R²: spel {stage['partial_r_squared']}, linearmodels {row['partial.rsquared']}")
        f = stage["f"]["statistic"] * (1 if case["se"] == "classical" else q)
        if not close(f, row["f.stat"], 1e-7):
            problems.append(f"first stage {stage['variable']} F: spel {f}, linearmodels {row['f.stat']}")
    wu = fit.wu_hausman()
    if not close(iv["wu_hausman"]["statistic"], wu.stat, 1e-7) or iv["wu_hausman"]["df_denominator"] != wu.df_denom:
        problems.append(f"Wu–Hausman: spel {iv['wu_hausman']}, linearmodels {wu.stat} F({wu.df}, {wu.df_denom})")
    if q > len(case["endog"]):
        sargan = fit.sargan
        if iv["sargan"] is None or not close(iv["sargan"]["statistic"], sargan.stat, 1e-7):
            problems.append(f"Sargan: spel {iv['sargan']}, linearmodels {sargan.stat}")
    elif iv["sargan"] is not None:
        problems.append("Sargan given for an exactly identified model")
    return problems


if __name__ == "__main__":
    main(
        lambda rng, count: card_cases() + [random_case(rng, k) for k in range(count)],
        check,
        lambda case: spel_program(case, "data.csv").strip(),
        lambda passed, cases: f"{passed} of {len(cases)} two-stage least squares fits equal linearmodels'",
    )
