"""The national-scale study fitted by the tools spel's users would otherwise use, on the
same Parquet file: glum (A to F, every effect as a categorical), pyfixest's feglm (B to
F, absorbed effects, which it fits without weights) and statsmodels (A; with 1,250 PCN
dummies it cannot run).
Prints one JSON line per fit: tool, model, seconds, coefficient and SE of lw_fte_50k.
Run by bench/models.sh, which times whole processes and their peak memory."""
import json
import sys
import time

tool, model, path = sys.argv[1], sys.argv[2], sys.argv[3]
TERMS = "lw_fte_50k + C(age_band) + C(sex) + C(ethnicity) + C(imd_quintile) + C(year)"

t0 = time.perf_counter()
if tool == "glum":
    # glum's fastest path: a DataFrame of categoricals, which it turns into tabmat's
    # categorical matrices itself (its formula interface is several times slower).
    import numpy as np
    import pandas as pd
    from glum import GeneralizedLinearRegressor

    df = pd.read_parquet(path)
    absorbed = {"A": [], "B": ["pcn"], "C": ["pcn"], "D": ["practice"], "E": ["pcn"], "F": ["pcn"]}[model]
    factors = ["age_band", "sex", "ethnicity", "imd_quintile", "year"] + absorbed
    X = df[["lw_fte_50k"] + factors].copy()
    for f in factors:
        X[f] = X[f].astype("category")
    y = df["good_experience"].to_numpy(dtype=float)
    w = df["weight"].to_numpy()
    clusters = df["pcn"].astype("category").cat.codes.to_numpy()
    fit = GeneralizedLinearRegressor(
        family="binomial", alpha=0, fit_intercept=True, drop_first=True, gradient_tol=1e-10
    ).fit(X, y, sample_weight=w)
    names = list(fit.feature_names_)
    i = names.index("lw_fte_50k")
    if model == "F":  # robust, not clustered
        cov = fit.covariance_matrix(X, y, sample_weight=w, robust=True)
    else:
        cov = fit.covariance_matrix(X, y, sample_weight=w, clusters=clusters)
    coef, se = fit.coef_[i], float(np.sqrt(np.asarray(cov)[i + 1, i + 1]))
elif tool == "pyfixest":
    import pandas as pd
    import pyfixest as pf

    df = pd.read_parquet(path)
    terms, absorbed = {
        "B": (TERMS, "pcn"),
        "C": (TERMS.replace(" + C(year)", ""), "year + pcn"),
        "D": (TERMS.replace(" + C(year)", ""), "year + practice"),
        "E": (TERMS.replace(" + C(year)", "").replace(" + C(age_band)", ""), "year + age_band + pcn"),
        "F": (TERMS.replace(" + C(year)", "").replace(" + C(age_band)", ""), "year + age_band + pcn"),
    }[model]
    vcov = "hetero" if model == "F" else {"CRV1": "pcn"}
    fit = pf.feglm(f"good_experience ~ {terms} | {absorbed}", data=df, family="logit", vcov=vcov)
    coef, se = float(fit.coef()["lw_fte_50k"]), float(fit.se()["lw_fte_50k"])
elif tool == "statsmodels":
    import pandas as pd
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    df = pd.read_parquet(path)
    fit = smf.glm(f"good_experience ~ {TERMS}", data=df, family=sm.families.Binomial(),
                  freq_weights=None, var_weights=df["weight"]).fit(
        cov_type="cluster", cov_kwds={"groups": df["pcn"].astype("category").cat.codes})
    coef, se = float(fit.params["lw_fte_50k"]), float(fit.bse["lw_fte_50k"])
else:
    raise SystemExit(f"unknown tool {tool}")
print(json.dumps({"tool": tool, "model": model, "seconds_in_python": round(time.perf_counter() - t0, 2),
                  "coef": coef, "se": se}))
