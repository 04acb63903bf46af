"""Random interrupted time series fitted by spel's `its` and by statsmodels.

Each case is a seeded random series: 24 to 120 periods, a break somewhere inside, a
trend, a level and slope change, AR(1) noise of random strength and, in half the cases,
seasons of a random period. spel gives the estimates (`its`), each period's fitted value,
residual and counterfactual with its interval (`show = fitted`), and the residuals'
autocorrelation with Ljung–Box (`show = autocorrelation`); statsmodels gives the same
from OLS with `cov_type = "HAC"` (Bartlett, the same lags, no correction, z-based),
`get_prediction` on the design with the changes switched off, and `acorr_ljungbox`.
Estimates, standard errors and the counterfactual's interval agree to 1e-8 relative;
autocorrelations, Q and p-values to 1e-9 (absolute for p).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.diagnostic import acorr_ljungbox
from statsmodels.tsa.stattools import acf


def draw_case(rng):
    n = int(rng.integers(24, 121))
    brk = int(rng.integers(4, n - 3))
    t = np.arange(1, n + 1)
    rho = rng.uniform(-0.5, 0.8)
    noise = np.zeros(n)
    for i in range(n):
        noise[i] = (rho * noise[i - 1] if i else 0.0) + rng.normal(0, rng.uniform(0.5, 5))
    after = (t >= brk).astype(float)
    y = 50 + rng.normal(0, 1) * t + rng.normal(0, 10) * after + rng.normal(0, 1) * (t - brk) * after + noise
    period = int(rng.choice([4, 12])) if rng.random() < 0.5 and n >= 30 else 0
    season = (t - 1) % period + 1 if period else None
    if period:
        y = y + np.sin(2 * np.pi * season / period) * rng.uniform(0, 8)
    lags = int(rng.integers(0, 7)) if rng.random() < 0.5 else None
    return {"t": t, "y": np.round(y, 6), "brk": brk, "season": season, "lags": lags}


def design(case):
    t, brk = case["t"], case["brk"]
    after = (t >= brk).astype(float)
    columns = [np.ones(len(t)), t.astype(float), after, (t - brk) * after]
    if case["season"] is not None:
        for level in sorted(set(case["season"]))[1:]:
            columns.append((case["season"] == level).astype(float))
    return np.column_stack(columns)


def default_lags(n):
    return int(np.floor(4 * (n / 100) ** (2 / 9)))


def reference(case):
    X = design(case)
    n = len(case["y"])
    lags = case["lags"] if case["lags"] is not None else default_lags(n)
    fit = sm.OLS(case["y"], X).fit(cov_type="HAC", cov_kwds={"maxlags": lags})
    counterfactual = X.copy()
    counterfactual[:, 2:4] = 0.0
    prediction = fit.get_prediction(counterfactual).summary_frame(alpha=0.05)
    max_lag = min(max(n // 5, 1), 12)
    box = acorr_ljungbox(fit.resid, lags=max_lag, return_df=True)
    return {
        "estimate": fit.params,
        "std_error": fit.bse,
        "fitted": fit.fittedvalues,
        "residual": fit.resid,
        "counterfactual": prediction["mean"].to_numpy(),
        "counterfactual_low": prediction["mean_ci_lower"].to_numpy(),
        "counterfactual_high": prediction["mean_ci_upper"].to_numpy(),
        "autocorrelation": acf(fit.resid, nlags=max_lag, fft=False)[1:],
        "ljung_box": box["lb_stat"].to_numpy(),
        "p_value": box["lb_pvalue"].to_numpy(),
    }


def statements(index, case, path):
    options = f"break = {case['brk']}"
    if case["season"] is not None:
        options += ", seasonal = season"
    if case["lags"] is not None:
        options += f", lags = {case['lags']}"
    call = f"its y ~ t, {options}"
    return [
        f'c{index} = read "{path}"',
        f"c{index} |> {call}",
        f"c{index} |> {call}, show = fitted",
        f"c{index} |> {call}, show = autocorrelation",
    ]


def column(table, name):
    return np.array([row[table["columns"].index(name)] for row in table["rows"]], dtype=float)


def differences(tables, expected):
    estimates, fitted, autocorrelation = tables
    problems = []

    def check(got, want, name, tolerance, relative=True):
        got, want = np.asarray(got, float), np.asarray(want, float)
        scale = np.maximum(np.abs(want), 1.0) if relative else 1.0
        worst = np.max(np.abs(got - want) / scale) if len(want) else 0.0
        if len(got) != len(want) or not worst <= tolerance:
            problems.append(f"{name}: spel {got[:4]}… statsmodels {want[:4]}… (worst {worst:.2e})")

    check(column(estimates, "estimate"), expected["estimate"], "estimate", 1e-8)
    check(column(estimates, "std_error"), expected["std_error"], "std_error", 1e-8)
    for name in ["fitted", "residual", "counterfactual", "counterfactual_low", "counterfactual_high"]:
        check(column(fitted, name), expected[name], name, 1e-8)
    check(column(autocorrelation, "autocorrelation"), expected["autocorrelation"], "autocorrelation", 1e-9)
    check(column(autocorrelation, "ljung_box"), expected["ljung_box"], "ljung_box", 1e-9)
    check(column(autocorrelation, "p_value"), expected["p_value"], "p_value", 1e-9, relative=False)
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spel")
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    folder = tempfile.mkdtemp(prefix="spel-its-")
    cases, script = [], []
    for index in range(args.cases):
        case = draw_case(rng)
        frame = pd.DataFrame({"t": case["t"], "y": case["y"]})
        if case["season"] is not None:
            frame["season"] = case["season"]
        path = os.path.join(folder, f"case{index}.csv")
        frame.to_csv(path, index=False, float_format="%.6f")
        case["y"] = pd.read_csv(path)["y"].to_numpy()
        cases.append(case)
        script += statements(index, case, path)
    with open(os.path.join(folder, "cases.spel"), "w") as out:
        out.write("\n".join(script) + "\n")
    done = subprocess.run([args.spel, "run", "--format", "json", os.path.join(folder, "cases.spel")],
                          capture_output=True, text=True)
    tables = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    tables = [t for t in tables if t.get("type") == "table"]
    if done.returncode != 0 or len(tables) != 3 * len(cases):
        print(f"spel failed ({folder}/cases.spel): {done.stderr.strip()}")
        sys.exit(1)
    disagreed = 0
    for index, case in enumerate(cases):
        problems = differences(tables[3 * index : 3 * index + 3], reference(case))
        if problems:
            disagreed += 1
            print(f"case {index} ({folder}/case{index}.csv): break {case['brk']}, lags {case['lags']}")
            for p in problems:
                print(f"    {p}")
    print(f"{len(cases) - disagreed} agreed, {disagreed} disagreed")
    if not disagreed:
        shutil.rmtree(folder)
    sys.exit(1 if disagreed else 0)


if __name__ == "__main__":
    main()
