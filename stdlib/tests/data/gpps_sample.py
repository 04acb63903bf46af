"""Reference numbers for the national-scale models on a 1% sample of the study.

spel's `simulate gpps, n = 41327` (41,327 respondents, about 1% of the 4,132,676; the
simulator is seeded) is written to CSV by spel, then fitted here:
  A: good_experience ~ lw_fte_50k + age_band + sex + ethnicity + C(imd_quintile) + C(year),
     logit, var_weights = weight, clustered by pcn
  B: A + PCN dummies (what spel absorbs as fe(pcn))
by statsmodels (every coefficient and its cluster-robust SE; statsmodels' factor is
G/(G-1)·(N-1)/(N-K), spel's `ssc = reg`) and by glum (coefficients).

Re-run (needs statsmodels, glum, pandas; spel built):
  ~/.cache/spel/bench-venv/bin/python stdlib/tests/data/gpps_sample.py target/debug/spel
Writes gpps_sample_reference.json next to this file.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from glum import GeneralizedLinearRegressor

HERE = os.path.dirname(os.path.abspath(__file__))
spel = sys.argv[1]
work = tempfile.mkdtemp()
csv = os.path.join(work, "gpps_1pct.csv")
script = os.path.join(work, "make.spel")
with open(script, "w") as f:
    f.write(f'simulate gpps, n = 41327 |> write to "{csv}"\n')
subprocess.run([spel, "run", script], check=True, stdout=subprocess.DEVNULL)
df = pd.read_csv(csv)

TERMS = "lw_fte_50k + C(age_band) + C(sex) + C(ethnicity) + C(imd_quintile) + C(year)"


def spel_name(name):
    # statsmodels' C(age_band)[T.35-54] is R's and spel's age_band35-54.
    if name == "Intercept":
        return "(Intercept)"
    if name.startswith("C("):
        var, level = name[2:].split(")[T.")
        level = level[:-1]
        if var in ("imd_quintile", "year"):
            return f"{var}{level}"
        return f"{var}{level}"
    return name


out = {"rows": len(df)}
for model, extra in (("A", ""), ("B", " + C(pcn)")):
    fit = smf.glm(f"good_experience ~ {TERMS}{extra}", data=df, family=sm.families.Binomial(),
                  var_weights=df["weight"]).fit(
        cov_type="cluster", cov_kwds={"groups": df["pcn"].astype("category").cat.codes}, tol=1e-12)
    out[model] = {
        spel_name(name): {"estimate": float(fit.params[name]), "std_error": float(fit.bse[name])}
        for name in fit.params.index if not name.startswith("C(pcn)") and not (model == "B" and name == "Intercept")
    }
    factors = ["age_band", "sex", "ethnicity", "imd_quintile", "year"] + (["pcn"] if model == "B" else [])
    X = df[["lw_fte_50k"] + factors].copy()
    for f in factors:
        X[f] = X[f].astype("category")
    g = GeneralizedLinearRegressor(family="binomial", alpha=0, fit_intercept=True, drop_first=True,
                                   gradient_tol=1e-12).fit(X, df["good_experience"].to_numpy(float),
                                                            sample_weight=df["weight"].to_numpy())
    out[model]["glum_lw_fte_50k"] = float(g.coef_[list(g.feature_names_).index("lw_fte_50k")])

with open(os.path.join(HERE, "gpps_sample_reference.json"), "w") as f:
    json.dump(out, f, indent=1)
print(json.dumps({m: out[m]["lw_fte_50k"] for m in ("A", "B")}))
