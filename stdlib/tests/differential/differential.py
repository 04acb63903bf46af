"""Differential tests: random data sets and models, fitted by spel and by statsmodels.

    python differential.py SPEL [--cases 300] [--seed 1] [--keep DIR]

Each case draws a data set (numeric columns on very different scales, a text factor whose
levels are not in sorted order, groups for absorbed effects and clusters, missing values,
a condition column) and a model (family, standard errors, weights, frequency weights,
binomial trials, `fe()`, interactions, offsets, `| condition`). spel fits it through
`spel run --format json`; statsmodels fits the same model at test time, with spel's
documented conventions (docs/models.md) applied to its unadjusted variances. Estimates,
standard errors and log-likelihoods must agree to the reference cases' tolerances.

The last line is `N agreed, N disagreed`; the exit status is 0 only when every case
agreed. A disagreement prints the case's spel script and data folder (kept with --keep).
"""

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd
import scipy.optimize
import statsmodels.api as sm

warnings.simplefilter("ignore")

FAMILIES = ["ols", "logit", "probit", "poisson", "negbin"]
LEVELS = ["zeta", "alpha", "mid"]  # text levels out of sorted order
BATCH = 40


def draw_case(rng, index):
    """A random data set and model: (frame, spec)."""
    family = FAMILIES[index % len(FAMILIES)] if index < 50 else rng.choice(FAMILIES)
    n = int(rng.integers(80, 400))
    spec = {
        "family": family,
        "se": str(rng.choice(["classical", "robust", "cluster"])),
        "weights": str(rng.choice(["none", "none", "weights", "freq"])),
        "fe": bool(rng.random() < 0.3),
        "interaction": bool(rng.random() < 0.3),
        "condition": bool(rng.random() < 0.25),
        "missing": bool(rng.random() < 0.3),
        "offset": family in ("poisson", "negbin") and rng.random() < 0.4,
        "trials": family == "logit" and rng.random() < 0.25,
        "two_way": False,
        "collinear": bool(rng.random() < 0.1),
        # A calendar-year quadratic and the like: R keeps the square (see docs/models.md).
        "square": family == "ols" and rng.random() < 0.3,
    }
    if family == "negbin" and spec["weights"] == "weights":
        spec["weights"] = "none"  # statsmodels' NB2 maximum likelihood takes no weights
    if spec["trials"]:
        spec["weights"] = "none"
    # A second absorbed effect, crossed with the first: joined as dummies (clustered by
    # grp), else by the table of the two effects' combinations.
    spec["fe2"] = spec["fe"] and bool(rng.random() < 0.4)
    if spec["se"] == "cluster" and rng.random() < 0.2 and not spec["fe"]:
        spec["two_way"] = True
    # Scales as data have them: tiny and huge rates, ages, calendar years.
    centre, scale = [(0.0, 1e-3), (0.0, 1.0), (0.0, 1e3), (50.0, 10.0), (2015.0, 5.0)][
        int(rng.integers(0, 5))
    ]
    x1 = centre + scale * rng.normal(size=n)
    x2 = 0.5 * rng.normal(size=n) + 0.3 * (x1 - centre) / scale
    g = rng.choice(LEVELS, size=n)
    groups = int(rng.integers(6, 20))
    grp = np.array([f"u{k:02d}" for k in rng.integers(0, groups, size=n)])
    other = np.array([f"v{k}" for k in rng.integers(0, 5, size=n)])
    frame = pd.DataFrame({"x1": x1, "x2": x2, "g": g, "grp": grp, "other": other})
    frame["x3"] = 2.0 * x2 - 0.5 if spec["collinear"] else rng.normal(size=n)
    frame["keep"] = rng.random(size=n) < 0.8
    frame["w"] = np.exp(0.4 * rng.normal(size=n))
    frame["f"] = rng.integers(1, 5, size=n)
    frame["expo"] = np.exp(rng.normal(size=n) * 0.3) * 10
    frame["m"] = rng.integers(1, 8, size=n)
    z1 = (x1 - centre) / scale
    level_effect = pd.Series(g).map({"zeta": 0.3, "alpha": 0.0, "mid": -0.2}).to_numpy()
    group_effect = pd.Series(grp).map({f"u{k:02d}": 0.4 * math.sin(k) for k in range(groups)}).to_numpy()
    eta = 0.2 + 0.5 * z1 - 0.4 * x2 + level_effect + (group_effect if spec["fe"] else 0.0)
    if family == "ols":
        y = 3.0 + eta * 2.0 + rng.normal(size=n) * 1.5
    elif family in ("logit", "probit"):
        p = 1 / (1 + np.exp(-eta))
        y = rng.binomial(frame["m"], p) if spec["trials"] else (rng.random(size=n) < p).astype(float)
    else:
        mu = np.exp(0.5 + 0.5 * eta + (np.log(frame["expo"]) - 2.3 if spec["offset"] else 0.0))
        if family == "negbin":
            mu = mu * rng.gamma(2.0, 0.5, size=n)
        y = rng.poisson(mu)
    frame["y"] = y.astype(float)
    if spec["missing"]:
        frame.loc[rng.random(size=n) < 0.05, "x1"] = np.nan
    return frame, spec


def formula(spec):
    terms = ["x1", "x2", "x3", "g"]
    if spec["square"]:
        terms.insert(1, "x1^2")
    if spec["interaction"]:
        terms.append("x1:g")
    if spec["offset"]:
        terms.append("offset(log(expo))")
    if spec["fe"]:
        terms.append("fe(grp)")
    if spec["fe2"]:
        terms.append("fe(other)")
    text = "y ~ " + " + ".join(terms)
    if spec["condition"]:
        text += " | keep"
    return text


def spel_statement(spec):
    options = [f"family = {spec['family']}"]
    if spec["se"] != "classical" or spec["weights"] == "weights":
        options.append(f"se = {spec['se']}")
    if spec["se"] == "cluster":
        options.append("cluster = [grp, other]" if spec["two_way"] else "cluster = grp")
    if spec["weights"] == "weights":
        options.append("weights = w")
    if spec["weights"] == "freq":
        options.append("freq = f")
    if spec["trials"]:
        options.append("trials = m")
    return f"model {formula(spec)}, " + ", ".join(options)


def used_rows(frame, spec):
    rows = frame
    if spec["condition"]:
        rows = rows[rows["keep"]]
    rows = rows.dropna(subset=["x1"])
    if spec["fe"] and spec["family"] != "ols":
        # Absorbed groups whose outcome never varies are left out, as spel, fixest and
        # Stata leave them out (their effects are infinite).
        # With two, in turn until none is left.
        counts = spec["family"] in ("poisson", "negbin")
        groupings = ["grp", "other"] if spec["fe2"] else ["grp"]
        while True:
            before = len(rows)
            for grouping in groupings:
                share = rows["y"] / rows["m"] if spec["trials"] else rows["y"]
                low = share.groupby(rows[grouping]).transform("min")
                high = share.groupby(rows[grouping]).transform("max")
                constant = (high == 0) | ((low == 1) & (not counts))
                rows = rows[~constant]
            if len(rows) == before:
                break
    return rows.reset_index(drop=True)


def design(rows, spec):
    """The model matrix with R's names; absorbed effects as dummies (not compared)."""
    columns = {"(Intercept)": np.ones(len(rows))}
    columns["x1"] = rows["x1"].to_numpy()
    if spec["square"]:
        columns["x1^2"] = rows["x1"].to_numpy() ** 2
    for name in ("x2", "x3"):
        columns[name] = rows[name].to_numpy()
    levels = sorted(rows["g"].unique())
    for level in levels[1:]:
        columns[f"g{level}"] = (rows["g"] == level).to_numpy(float)
    if spec["interaction"]:
        for level in levels[1:]:
            columns[f"x1:g{level}"] = rows["x1"].to_numpy() * (rows["g"] == level).to_numpy(float)
    if spec["fe"]:
        for level in sorted(rows["grp"].unique())[1:]:
            columns[f"FE {level}"] = (rows["grp"] == level).to_numpy(float)
    if spec["fe2"]:
        for level in sorted(rows["other"].unique())[1:]:
            columns[f"FE2 {level}"] = (rows["other"] == level).to_numpy(float)
    return pd.DataFrame(columns)


def glm_family(spec):
    f = spec["family"]
    if f == "logit":
        return sm.families.Binomial()
    if f == "probit":
        return sm.families.Binomial(link=sm.families.links.Probit())
    if f == "poisson":
        return sm.families.Poisson()
    raise ValueError(f)


def fit_reference(frame, spec, dropped, theta):
    """statsmodels' fit of the case: {term: (estimate, se)}, log-likelihood."""
    rows = used_rows(frame, spec)
    if spec["weights"] == "freq":
        rows = rows.loc[rows.index.repeat(rows["f"])].reset_index(drop=True)
    X = design(rows, spec).drop(columns=dropped)
    y = rows["y"].to_numpy()
    n, k = X.shape
    offset = np.log(rows["expo"]).to_numpy() if spec["offset"] else None
    weights = rows["w"].to_numpy() if spec["weights"] == "weights" else None
    ols = spec["family"] == "ols"
    if ols:
        model = sm.WLS(y, X, weights=weights) if weights is not None else sm.OLS(y, X)
        fit = lambda **kw: model.fit(method="qr", **kw)  # noqa: E731
    else:
        if spec["family"] == "negbin":
            family = sm.families.NegativeBinomial(alpha=1.0 / theta)
        else:
            family = glm_family(spec)
        endog = np.column_stack([y, rows["m"] - y]) if spec["trials"] else y
        model = sm.GLM(endog, X, family=family, offset=offset, var_weights=weights)
        fit = lambda **kw: model.fit(tol=1e-13, **kw)  # noqa: E731
    plain = fit()
    params = plain.params.to_numpy()
    estimator = spec["se"]
    if ols:
        # The bread from a QR of √w·X, not an inverse of X'WX: a calendar-year square
        # makes X'WX too ill-conditioned for the reference's own digits (statsmodels'
        # pseudo-inverse loses 3e-5 there).
        # The sandwiches too: V = R⁻¹ (Q'ΩQ) R⁻ᵀ with the scores in Q's columns, as
        # X'ΩX formed directly loses digits the same way (a calendar-year square put
        # the reference's robust errors 1e-4 off exact arithmetic; spel's were 3e-10).
        w = np.ones(n) if weights is None else weights
        matrix = X.to_numpy()
        q, r = np.linalg.qr(matrix * np.sqrt(w)[:, None])
        r_inverse = np.linalg.inv(r)
        bread = r_inverse @ r_inverse.T
        residual = y - matrix @ params
        scores = q * (np.sqrt(w) * residual)[:, None]
        left = r_inverse
    else:
        bread = np.linalg.inv(-model.hessian(params, observed=False))
        scores = model.score_obs(params)
        left = bread
    if estimator == "classical":
        if ols:
            variance = bread * (w * residual**2).sum() / (n - k)
        else:
            variance = plain.cov_params().to_numpy()
    else:
        # Sandwiches with the expected-information bread, as R's sandwich package and
        # spel (statsmodels' own robust GLM variances use the observed information).
        if estimator == "robust":
            # Stata's factors: OLS n/(n-k) (HC1), maximum likelihood n/(n-1); n counts
            # rows (expanded rows for frequency weights).
            variance = left @ (scores.T @ scores) @ left.T * (n / (n - k) if ols else n / (n - 1))
        else:
            def one_way(ids):
                codes = pd.factorize(ids)[0]
                g = codes.max() + 1
                sums = np.zeros((g, k))
                np.add.at(sums, codes, scores)
                factor = g / (g - 1) * ((n - 1) / (n - k) if ols else 1.0)
                return left @ (sums.T @ sums) @ left.T * factor

            variance = one_way(rows["grp"].to_numpy())
            if spec["two_way"]:
                both = (rows["grp"] + "/" + rows["other"]).to_numpy()
                variance = variance + one_way(rows["other"].to_numpy()) - one_way(both)
                # Negative eigenvalues of the correlations set to zero (Cameron, Gelbach
                # and Miller; spel clips the correlations so that units do not matter).
                scale = np.sqrt(np.abs(np.diag(variance)))
                scale[scale == 0] = 1.0
                values, vectors = np.linalg.eigh(variance / np.outer(scale, scale))
                clipped = vectors @ np.diag(np.clip(values, 0, None)) @ vectors.T
                variance = clipped * np.outer(scale, scale)
    se = np.sqrt(np.diag(variance))
    terms = {name: (params[i], se[i]) for i, name in enumerate(X.columns)}
    loglik = None if spec["weights"] == "weights" else plain.llf
    converged = ols or bool(plain.converged) or settled(plain.fit_history["deviance"])
    return terms, loglik, converged


def settled(deviances):
    """statsmodels' tolerance (1e-13 here) is absolute: a deviance in the hundreds can
    wander in its last digits past the iteration limit, settled all the same."""
    return len(deviances) > 2 and abs(deviances[-1] - deviances[-2]) <= 1e-12 * abs(deviances[-1])


def negbin_theta(frame, spec):
    rows = used_rows(frame, spec)
    if spec["weights"] == "freq":
        rows = rows.loc[rows.index.repeat(rows["f"])].reset_index(drop=True)
    X = design(rows, spec)
    offset = np.log(rows["expo"]).to_numpy() if spec["offset"] else None
    y = rows["y"].to_numpy()
    poisson = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset).fit()
    nb = sm.NegativeBinomial(y, X, loglike_method="nb2", offset=offset)
    start = np.append(poisson.params.to_numpy(), 0.5)
    result = nb.fit(start_params=start, disp=0, maxiter=2000, method="nm")
    result = nb.fit(start_params=result.params, disp=0, maxiter=200, method="newton", tol=1e-12)
    theta = 1.0 / result.params.iloc[-1]
    if np.isfinite(theta) and theta > 0:
        return theta
    # Where the joint maximisation fails (it has, on a case with 20 absorbed dummies),
    # θ by its profile likelihood: the NB2 GLM refitted at each θ tried.
    def minus_profile(log_theta):
        family = sm.families.NegativeBinomial(alpha=float(np.exp(-log_theta)))
        return -sm.GLM(y, X, family=family, offset=offset).fit(tol=1e-13).llf

    found = scipy.optimize.minimize_scalar(
        minus_profile, bounds=(np.log(1e-3), np.log(1e8)), method="bounded", options={"xatol": 1e-9}
    )
    return float(np.exp(found.x))


def compare(got, case_frame, spec):
    """Disagreements between spel's model (JSON) and statsmodels' fit, as text."""
    problems = []
    dropped = list(got.get("dropped_collinear") or [])
    expected_drop = ["x3"] if spec["collinear"] else []
    if dropped != expected_drop:
        problems.append(f"dropped {dropped}, R would drop {expected_drop}")
    theta = got.get("theta")
    if spec["family"] == "negbin":
        reference_theta = negbin_theta(case_frame, spec)
        unbounded = any("grew without bound" in note for note in got["notes"])
        if not np.isfinite(reference_theta) and not unbounded:
            return problems + [f"statsmodels' θ is {reference_theta}; spel's {theta} (no reference)"]
        if unbounded and not reference_theta < 1e5:
            # No over-dispersion: both run off, and the model is the Poisson's.
            spec = dict(spec, family="poisson")
        elif not abs(theta - reference_theta) <= 1e-4 * reference_theta:
            problems.append(f"theta {theta} vs statsmodels {reference_theta}")
    reference, loglik, converged = fit_reference(case_frame, spec, dropped, theta)
    if not converged:
        # Neither has an answer (separation within a group, say): spel must say so.
        said = any("did not converge" in n or "separation" in n for n in got["notes"])
        return problems if said else problems + ["statsmodels did not converge; spel said nothing"]
    for term in got["terms"]:
        name = term["term"]
        if name not in reference:
            problems.append(f"{name}: not in the reference design")
            continue
        b, s = reference[name]
        if term["estimate"] is None or term["std_error"] is None:
            problems.append(f"{name}: spel gives {term['estimate']!r} ({term['std_error']!r})")
            continue
        if not abs(term["estimate"] - b) <= 1e-5 * abs(b) + 1e-6 * s:
            problems.append(f"{name} estimate {term['estimate']!r} vs {b!r}")
        if not abs(term["std_error"] - s) <= 1e-4 * s + 1e-12:
            problems.append(f"{name} std_error {term['std_error']!r} vs {s!r}")
    if loglik is not None and got.get("log_lik") is not None:
        if not abs(got["log_lik"] - loglik) <= 1e-8 * abs(loglik) + 1e-4:
            problems.append(f"log-likelihood {got['log_lik']!r} vs {loglik!r}")
    elif (loglik is None) != (got.get("log_lik") is None):
        problems.append(f"log-likelihood {got.get('log_lik')!r} vs {loglik!r}")
    return problems


def run_spel(spel, folder, cases):
    """Fits the cases in one spel process; a case whose statement fails is run alone."""
    script = []
    for index, (_, spec) in cases:
        script.append(f'd{index} = read "{folder}/case{index}.csv"')
        script.append(f"use d{index}")
        script.append(spel_statement(spec))
    path = os.path.join(folder, f"batch{cases[0][0]}.spel")
    with open(path, "w") as out:
        out.write("\n".join(script) + "\n")
    done = subprocess.run([spel, "run", "--format", "json", path], capture_output=True, text=True)
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    models = [r for r in results if r.get("type") == "model"]
    if done.returncode == 0 and len(models) == len(cases):
        return {index: (model, None) for (index, _), model in zip(cases, models)}
    if len(cases) == 1:
        return {cases[0][0]: (None, done.stderr.strip() or done.stdout.strip())}
    answers = {}
    for case in cases:
        answers.update(run_spel(spel, folder, [case]))
    return answers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spel")
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", help="write the cases here (default: a temporary folder)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    folder = args.keep or tempfile.mkdtemp(prefix="spel-differential-")
    os.makedirs(folder, exist_ok=True)
    cases = []
    for index in range(args.cases):
        frame, spec = draw_case(rng, index)
        written = frame.assign(keep=np.where(frame["keep"], "true", "false"))
        written.to_csv(os.path.join(folder, f"case{index}.csv"), index=False)
        cases.append((index, (frame, spec)))
    agreed = disagreed = 0
    for start in range(0, len(cases), BATCH):
        batch = cases[start : start + BATCH]
        answers = run_spel(args.spel, folder, batch)
        for index, (frame, spec) in batch:
            model, error = answers[index]
            problems = [f"spel failed: {error}"] if model is None else compare(model, frame, spec)
            if problems:
                disagreed += 1
                print(f"case {index} ({folder}/case{index}.csv): {spel_statement(spec)}")
                for p in problems:
                    print(f"    {p}")
            else:
                agreed += 1
    print(f"{agreed} agreed, {disagreed} disagreed")
    if not args.keep and not disagreed:
        shutil.rmtree(folder)  # kept when a case disagrees: the messages name its file
    sys.exit(1 if disagreed else 0)


if __name__ == "__main__":
    main()
