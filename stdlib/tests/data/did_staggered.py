"""Produce the staggered-adoption DiD fixture and its reference numbers.

Writes, next to this file:
  did_staggered.csv             balanced panel, 60 units (pcn) x 8 quarters
  did_staggered_reference.json  Callaway-Sant'Anna ATT(g,t) + simple/dynamic
                                aggregations (csdid 0.4.3, est_method='dr',
                                no covariates, base_period='varying',
                                bstrap=False i.e. analytic influence-function SEs)
                                for control_group nevertreated/notyettreated,
                                unweighted and weighted (weights_name='weight'),
                                plus TWFE OLS with pcn-clustered SEs (statsmodels).

Re-run (needs csdid==0.4.3, pandas, numpy, statsmodels):
  ~/.cache/spel/venv/bin/python stdlib/tests/data/did_staggered.py
All reference numbers are computed from the CSV as re-read from disk.
"""
import json
import os
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
from csdid.att_gt import ATTgt

HERE = os.path.dirname(os.path.abspath(__file__))
CSV = os.path.join(HERE, "did_staggered.csv")
JSON = os.path.join(HERE, "did_staggered_reference.json")


def make_data(seed=20240607):
    rng = np.random.default_rng(seed)
    n_units, n_q = 60, 8
    first = np.repeat([0, 3, 5, 6], 15)            # 15 never-treated, 15 per cohort
    rng.shuffle(first)
    weight = np.round(rng.uniform(0.5, 2.0, n_units), 3)
    # unit effect correlated with cohort so levels differ across cohorts
    alpha = rng.normal(0.0, 1.0, n_units) + 0.3 * (first > 0) - 0.1 * first
    lam = np.array([0.0, 0.4, 0.7, 1.3, 1.6, 2.2, 2.4, 3.0])  # time effects
    slope = {3: 0.6, 5: 0.3, 6: 0.9}                          # growth per quarter
    jump = {3: 1.0, 5: 2.0, 6: 0.5}                           # on-impact effect
    rows = []
    for i in range(n_units):
        for q in range(1, n_q + 1):
            g = first[i]
            tau = jump[g] + slope[g] * (q - g) if g > 0 and q >= g else 0.0
            y = 10.0 + alpha[i] + lam[q - 1] + tau + rng.normal(0.0, 1.0)
            rows.append((i + 1, q, int(g), weight[i], round(y, 4)))
    return pd.DataFrame(rows, columns=["pcn", "quarter", "first", "weight", "y"])


def run_csdid(df, control_group, weights_name):
    att = ATTgt(yname="y", tname="quarter", idname="pcn", gname="first",
                data=df.copy(), control_group=control_group, xformla=None,
                panel=True, weights_name=weights_name)
    att.fit(est_method="dr", base_period="varying", bstrap=False)
    r = att.results
    att_gt = [{"group": int(g), "time": int(t), "att": float(a), "se": float(s)}
              for g, t, a, s in zip(r["group"], r["year"], r["att"], r["se"])]
    simple = att.aggte(typec="simple").atte
    dyn = att.aggte(typec="dynamic").atte
    se_e = np.asarray(dyn["se_egt"]).ravel()
    balanced = att.aggte(typec="dynamic", balance_e=3).atte
    balanced_se = np.asarray(balanced["se_egt"]).ravel()
    return {
        "att_gt": att_gt,
        "simple": {"att": float(simple["overall_att"]), "se": float(simple["overall_se"])},
        "dynamic": [{"e": int(e), "att": float(a), "se": float(s)}
                    for e, a, s in zip(dyn["egt"], dyn["att_egt"], se_e)],
        "dynamic_overall": {"att": float(dyn["overall_att"]), "se": float(dyn["overall_se"])},
        "dynamic_balanced_3": [{"e": int(e), "att": float(a), "se": float(s)}
                               for e, a, s in zip(balanced["egt"], balanced["att_egt"], balanced_se)],
        "dynamic_balanced_3_overall": {"att": float(balanced["overall_att"]),
                                       "se": float(balanced["overall_se"])},
    }


def run_twfe(df, weighted=False):
    d = df.copy()
    d["treated"] = ((d["first"] > 0) & (d["quarter"] >= d["first"])).astype(float)
    X = pd.concat([d[["treated"]],
                   pd.get_dummies(d["pcn"], prefix="u", drop_first=True, dtype=float),
                   pd.get_dummies(d["quarter"], prefix="q", drop_first=True, dtype=float)],
                  axis=1)
    X = sm.add_constant(X)
    model = sm.WLS(d["y"], X, weights=d["weight"]) if weighted else sm.OLS(d["y"], X)
    res = model.fit()
    # raw cluster sandwich (no small-sample factor), then apply corrections by hand
    raw = model.fit(cov_type="cluster",
                    cov_kwds={"groups": d["pcn"].to_numpy(), "use_correction": False})
    v_raw = float(raw.cov_params().loc["treated", "treated"])
    n, G = len(d), d["pcn"].nunique()
    k_full = X.shape[1]                        # 1 + 59 unit + 7 quarter + const = 68
    k_nested = 1 + d["quarter"].nunique()      # unit FE nested in pcn clusters -> 9
    adj = lambda k: G / (G - 1) * (n - 1) / (n - k)
    return {
        "coef": float(res.params["treated"]),
        "n_obs": n, "n_clusters": G,
        "se_raw_cluster": float(np.sqrt(v_raw)),
        "se_cluster_areg_full_K": float(np.sqrt(v_raw * adj(k_full))),
        "K_full": k_full,
        "se_cluster_fixest_nested_K": float(np.sqrt(v_raw * adj(k_nested))),
        "K_nested": k_nested,
    }


def main():
    make_data().to_csv(CSV, index=False)
    df = pd.read_csv(CSV)
    out = {"meta": {
        "source": "csdid 0.4.3 ATTgt(...).fit(est_method='dr', base_period='varying', "
                  "bstrap=False); aggte(typec='simple'|'dynamic'), and "
                  "aggte(typec='dynamic', balance_e=3) for the balanced event study",
        "se": "analytic: sqrt(mean(IF^2)/n), n = number of units",
        "n_units": int(df["pcn"].nunique()), "n_periods": int(df["quarter"].nunique()),
        "twfe": "y ~ treated + unit FE + quarter FE; cluster(pcn) SE = sqrt(V_raw * "
                "G/(G-1) * (N-1)/(N-K)); K_full counts all FE levels (Stata areg / "
                "statsmodels default), K_nested drops unit FE nested in clusters "
                "(fixest default ssc)"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cg in ("nevertreated", "notyettreated"):
            out[cg] = {"unweighted": run_csdid(df, cg, None),
                       "weighted": run_csdid(df, cg, "weight")}
    out["twfe"] = {"unweighted": run_twfe(df), "weighted_wls": run_twfe(df, weighted=True)}
    with open(JSON, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
