"""Linear mixed models by spel's `model` with random effects and by R's lme4 (`lmer`, from
Debian's r-cran-lme4).

First lme4's own `sleepstudy` (examples/data/sleepstudy.csv), `Reaction ~ Days + (Days |
Subject)` by REML and by ML. Then random seeded data: 3 to 40 groups of unequal sizes
(one to a dozen rows), a random intercept alone or with a correlated random slope, a
slope alone (`(0 + x1 | g)`), intercept and slope uncorrelated (`(1 | g) + (0 + x1 | g)`), an
inner grouping nested in the first (`(1 | g/h)`) or a crossed one (`(1 | g) + (1 | c)`),
between-group standard deviations from zero (a singular fit) to three times the
residual's, REML or ML.

Compared: each fixed effect (1e-5 relative) and its standard error (1e-4), each
variance component's standard deviation and correlation and the residual's (1e-4), the
REML criterion or deviance and AIC (1e-6), whether the fit is singular, every group's
conditional mode and its conditional standard deviation (lme4's condsd), and every row's
prediction with and without the random effects (1e-4 of
the residual standard deviation). A correlation of effects whose standard deviation is
(near) zero is not determined and not compared. Where lme4 stops at a higher criterion
than spel's (degenerate data: a residual variance near zero), there is no common optimum
to compare at; the tally counts those cases. Where lme4's residual standard deviation is
below 1% of the outcome's, the criterion is flat towards zero: the criteria must agree and
spel must say so in a note. A model lme4 refuses (more random effects
than rows) spel must refuse too.

The logit, probit and Poisson cases (by glmer) are held first to the exact Laplace
criterion minimised in R independently of lme4's PIRLS (mixed/lmer.R's `exact`), whose
stopping rule leaves about 1e-4 in lme4's deviance: spel's criterion no higher than that
optimum (1e-7) nor lower (1e-6), each fixed effect within 1e-5 relative or 1e-4 of its
standard error, each standard error from the finite-difference Hessian within 1e-4 (0.2%
where a standard deviation lies between 0 and 0.05: the criterion is flat there, so the
optimum is fixed only roughly along it, and the Hessian's cross terms move with it), and a
single random intercept's standard deviation within 1e-4. Some binomial cases count
successes out of 1 to 8 trials (`trials = t`, lme4's `cbind(y, t - y)`); some Poisson cases
have an exposure as the offset `log(e)`. Then to lme4 itself within its
noise: estimates within 0.05 standard errors, standard errors within 3%, standard deviations
within 3% or 0.01, modes within 5% of their conditional standard deviations or 0.01, and
predictions within 1% or 0.005 — except where lme4 stopped at a worse optimum, its
standard errors disagree with the exact Hessian's, or its PIRLS failed (each counted). R runs
once over all cases (mixed/lmer.R).
"""
import os
import tempfile

import numpy as np
import pandas as pd

from harness import close, main, run_spel, values
from harness import with_r as attach_r

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
WORK = tempfile.mkdtemp(prefix="spel-mixed-")


def sleepstudy_cases():
    d = pd.read_csv(os.path.join(ROOT, "examples", "data", "sleepstudy.csv"))
    data = pd.DataFrame({"y": d.Reaction, "x1": d.Days, "g": d.Subject.astype(str)})
    return [dict(name=f"sleepstudy {'REML' if reml else 'ML'}", data=data, rhs="x1 + (x1 | g)", reml=reml,
                 family="ols") for reml in (True, False)]


def random_case(rng, k):
    groups = int(rng.integers(3, 41))
    sizes = rng.integers(1, 13, groups)
    sizes[:2] = np.maximum(sizes[:2], 2)
    g = np.repeat([f"g{j}" for j in range(groups)], sizes)
    n = len(g)
    kind = str(rng.choice(["intercept", "slope", "slope_only", "uncorrelated", "nested", "crossed"]))
    sd_between = float(rng.choice([0.0, 0.2, 1.0, 3.0]))
    x1 = rng.normal(0, 1, n) + np.repeat(rng.normal(0, 0.5, groups), sizes)
    x2 = rng.uniform(0, 2, n)
    f = rng.choice(["a", "b", "c"], n)
    b0 = np.repeat(rng.normal(0, sd_between, groups), sizes)
    b1 = np.repeat(rng.normal(0, sd_between / 2, groups), sizes)
    y = 1 + 0.5 * x1 - 0.3 * x2 + (f == "b") * 0.4 + b0 + rng.normal(0, 1, n)
    data = pd.DataFrame({"y": np.round(y, 5), "x1": np.round(x1, 5), "x2": np.round(x2, 5), "f": f, "g": g})
    fixed = "x1 + x2 + f" if rng.random() < 0.6 else "x1"
    if kind == "intercept":
        rhs = f"{fixed} + (1 | g)"
    elif kind == "slope":
        data["y"] = np.round(data.y + b1 * x1, 5)
        rhs = f"{fixed} + (1 + x1 | g)"
    elif kind in ("slope_only", "uncorrelated"):
        data["y"] = np.round(data.y + b1 * x1, 5)
        rhs = f"{fixed} + (0 + x1 | g)" if kind == "slope_only" else f"{fixed} + (1 | g) + (0 + x1 | g)"
    elif kind == "nested":
        h = np.array([f"h{int(v)}" for v in rng.integers(0, 3, n)])
        inner = {key: rng.normal(0, 0.7) for key in sorted(set(zip(g, h)))}
        data["h"] = h
        data["y"] = np.round(data.y + [inner[key] for key in zip(g, h)], 5)
        rhs = f"{fixed} + (1 | g/h)"
    else:
        c = np.array([f"c{int(v)}" for v in rng.integers(0, int(rng.integers(3, 9)), n)])
        shifts = {key: rng.normal(0, 0.8) for key in sorted(set(c))}
        data["c"] = c
        data["y"] = np.round(data.y + [shifts[key] for key in c], 5)
        rhs = f"{fixed} + (1 | g) + (1 | c)"
    for column in ("h", "c"):
        if column not in data:
            data[column] = "none"
    family = str(rng.choice(["ols", "ols", "ols", "logit", "logit", "probit", "poisson"]))
    # Some binomial cases count successes out of 1 to 8 trials; some Poisson cases have an
    # exposure, taken as the offset log(e).
    trials = family in ("logit", "probit") and rng.random() < 0.35
    offset = family == "poisson" and rng.random() < 0.4
    if family != "ols":
        # The same linear predictor, scaled down, on the family's link.
        signal = (data.y - data.y.mean()) / max(data.y.std(), 1e-9)
        if family == "poisson":
            exposure = np.round(rng.uniform(0.5, 3, n), 3) if offset else np.ones(n)
            data["y"] = rng.poisson(exposure * np.exp(0.5 + 0.5 * signal))
            data["e"] = exposure
        else:
            link = 1 / (1 + np.exp(-1.2 * signal)) if family == "logit" else 0.5 * (1 + np.tanh(0.8 * signal))
            size = rng.integers(1, 9, n) if trials else np.ones(n, dtype=int)
            data["y"] = rng.binomial(size, link)
            data["t"] = size
    if offset:
        rhs += " + offset(log(e))"
    return dict(name=f"random {k}", data=data, rhs=rhs, reml=bool(rng.random() < 0.6), family=family,
                trials=trials)


def with_r(cases):
    """Each case with lme4's fit attached (one R run for all)."""
    for case in cases:
        for column in ("h", "c", "f"):
            if column not in case["data"]:
                case["data"][column] = "none"
    script = os.path.join(ROOT, "stdlib", "tests", "differential", "mixed", "lmer.R")
    return attach_r(cases, script,
                    lambda c: {"path": c["path"], "reml": c["reml"],
                               "formula": f"{'cbind(y, t - y)' if c.get('trials') else 'y'} ~ {c['rhs']}",
                               "family": c["family"]}, WORK)


def spel_program(case, path):
    reml = "" if case["reml"] or case["family"] != "ols" else ", reml = false"
    reml += f", family = {case['family']}"
    if case.get("trials"):
        reml += ", trials = t"
    return (f'd = read "{path}"\nm = d |> model y ~ {case["rhs"]}{reml}\nm\nranef m\n'
            "d |> predict m as p |> predict m as q, random = false |> select p, q\n")


def listed(value):
    return value if isinstance(value, list) else [value]


def matched_terms(shown, ref, problems):
    """Each of lme4's fixed effects with its index and spel's row for it; where spel has
    none, a problem instead."""
    terms = {t["term"]: t for t in shown["terms"]}
    for i, name in enumerate(listed(ref["terms"])):
        if name in terms:
            yield i, name, terms[name]
        else:
            problems.append(f"fixed effect {name}: spel has none")


def check(case, spel, work):
    out = run_spel(spel, work, case["data"], lambda path: spel_program(case, path))
    ref = case["r"]
    if ref["refused"] and "number of observations" not in ref["why"]:
        # lme4's PIRLS failed (NaN on tiny data): nothing to compare with.
        case["lme4_failed"] = True
        return []
    if ref["refused"]:
        case["refused"] = True
        if out.returncode == 0:
            return [f"lme4 refused ({ref['why']}) but spel answered"]
        return [] if "spel::model::mixed_groups" in out.stderr else [f"spel refused otherwise: {out.stderr[:300]}"]
    if out.returncode != 0:
        return [f"spel failed: {out.stderr.strip()[:600]}"]
    shown, ranef, predicted = values(out)
    if case["family"] != "ols":
        return check_glmm(case, shown, ranef, predicted)
    problems = []
    criterion = shown["random_effects"]["criterion"]
    if criterion < ref["criterion"] - 1e-6 * abs(ref["criterion"]):
        # lme4 stopped short of the optimum spel reached: nothing to compare at.
        case["lower"] = True
        return []
    if ref["sigma"] < 1e-2 * case["data"].y.std():
        # Degenerate: the criterion is flat as σ goes to zero, so each tool stops at its
        # own point of it. The criteria must agree, and spel must say so in a note.
        case["degenerate"] = True
        problems = [] if abs(criterion - ref["criterion"]) <= 1e-6 * abs(ref["criterion"]) else [
            f"criterion: spel {criterion!r}, R {ref['criterion']!r}"]
        if not any("nearly zero" in note for note in shown["notes"]):
            problems.append("no note on the residual standard deviation near zero")
        return problems

    def compare(what, ours, theirs, tol, floor=0.0):
        if ours is None or not (close(ours, theirs, tol) or abs(ours - theirs) <= floor):
            problems.append(f"{what}: spel {ours!r}, R {theirs!r}")

    for i, name, ours in matched_terms(shown, ref, problems):
        se = listed(ref["se"])[i]
        compare(f"{name} estimate", ours["estimate"], listed(ref["estimate"])[i], 1e-5, 1e-5 * se)
        compare(f"{name} se", ours["std_error"], se, 1e-4)
    random = shown["random_effects"]
    sigma = ref["sigma"]
    compare("sigma", random["residual_std_dev"], sigma, 1e-4)
    compare("criterion", random["criterion"], ref["criterion"], 1e-6)
    compare("AIC", shown["aic"], ref["aic"], 1e-6)
    if random["singular"] != ref["singular"]:
        problems.append(f"singular: spel {random['singular']}, R {ref['singular']}")
    components = {(c["group"], c["term"]): c for c in random["components"]}
    vc = {key: listed(value) for key, value in ref["vc"].items()}
    for grp, var1, var2, sdcor in zip(vc["grp"], vc["var1"], vc["var2"], vc["sdcor"]):
        if grp == "Residual":
            continue
        # lme4 tells apart two terms on one grouping as g and g.1.
        if (grp, var1) not in components and grp.rsplit(".", 1)[0] in {c["group"] for c in random["components"]}:
            grp = grp.rsplit(".", 1)[0]
        if var2 == "":
            ours = components.get((grp, var1))
            compare(f"sd {grp} {var1}", ours and ours["std_dev"], sdcor, 1e-4, 1e-4 * sigma)
        else:
            ours = components.get((grp, var2)) or {}
            correlations = ours.get("correlations", [])
            # A correlation of effects whose variance is (near) zero is not determined.
            sds = [components.get((grp, v), {}).get("std_dev", 0) for v in (var1, var2)]
            if min(sds) < 1e-3 * sigma or sdcor is None:
                continue
            compare(f"corr {grp} {var1} {var2}", correlations[0] if correlations else None, sdcor, 0, 1e-4)
    modes = {(r[0], r[1], r[2]): (r[3], r[4]) for r in ranef["rows"]}
    re = {key: listed(value) for key, value in ref["ranef"].items()}
    for grpvar, term, grp, value, sd in zip(re["grpvar"], re["term"], re["grp"], re["condval"], re["condsd"]):
        mode, mode_sd = modes.get((grpvar, grp, term), (None, None))
        compare(f"mode {grpvar} {grp} {term}", mode, value, 0, 1e-4 * sigma)
        compare(f"mode sd {grpvar} {grp} {term}", mode_sd, sd, 1e-4, 1e-4 * sigma)
    for i, (p, q) in enumerate(predicted["rows"]):
        compare(f"prediction {i}", p, listed(ref["fitted"])[i], 0, 1e-4 * sigma)
        compare(f"population prediction {i}", q, listed(ref["population"])[i], 0, 1e-4 * sigma)
    return problems


def check_glmm(case, shown, ranef, predicted):
    """A logit, probit or Poisson model: equal to the exact Laplace fit (the criterion
    minimised by R independently of lme4's PIRLS, whose stopping rule leaves about 1e-4 in
    its deviance) to the tight tolerances, and to lme4's glmer within that noise."""
    ref, problems = case["r"], []
    exact = {key: listed(value) if key in ("estimate", "se", "theta") else value
             for key, value in ref["exact"].items()}

    def compare(what, ours, theirs, tol, floor=0.0):
        if theirs is None:
            return
        if ours is None or not (close(ours, theirs, tol) or abs(ours - theirs) <= floor):
            problems.append(f"{what}: spel {ours!r}, R {theirs!r}")

    random = shown["random_effects"]
    criterion = random["criterion"]
    # spel's optimum of the exact criterion: its value, and no worse than R's search of it.
    if criterion > exact["criterion"] + 1e-7 * abs(exact["criterion"]):
        problems.append(f"criterion: spel {criterion!r}, exact {exact['criterion']!r}")
    if criterion < exact["criterion"] - 1e-6 * abs(exact["criterion"]):
        case["lower"] = True  # R's search of the exact criterion stopped short
        return problems
    # lme4 at a worse optimum than spel's (beyond its deviance's noise), or with a Hessian
    # that disagrees with the exact one: its own numbers are not compared.
    lme4_optimum = criterion >= ref["criterion"] - 1e-3
    lme4_hessian = all(abs(a - b) <= 0.03 * b for a, b in zip(listed(ref["se"]), exact["se"]) if b)
    if not lme4_optimum:
        case["lower"] = True
    if not lme4_hessian:
        case["lme4_hessian"] = True
    # A standard deviation near, not at, zero sits where the criterion is flat: its optimum
    # is fixed only to a few percent, and the Hessian's cross terms with it move with it.
    flat = any(0 < abs(t) < 0.05 for t in exact["theta"])
    for i, name, ours in matched_terms(shown, ref, problems):
        se = exact["se"][i]  # None where R's Hessian of the exact criterion is singular
        lme4_se = listed(ref["se"])[i]
        scale = se if se is not None else lme4_se
        # Where the likelihood is flat (few rows) the optimum is fixed only to a small share
        # of a standard error.
        compare(f"{name} estimate (exact)", ours["estimate"], exact["estimate"][i], 1e-5, 1e-4 * scale)
        if flat and se is not None and not close(ours["std_error"], se, 1e-4):
            case["flat"] = True  # counted: held to 0.2% only
        compare(f"{name} se (exact)", ours["std_error"], se, 2e-3 if flat else 1e-4)
        # lme4 itself, within its deviance's noise.
        if lme4_optimum:
            compare(f"{name} estimate (lme4)", ours["estimate"], listed(ref["estimate"])[i], 0, 0.05 * scale)
        if lme4_optimum and lme4_hessian:
            compare(f"{name} se (lme4)", ours["std_error"], lme4_se, 0.03)
    if exact["single"]:
        [component] = random["components"]
        compare("sd (exact)", component["std_dev"], exact["theta"][0], 1e-4, 1e-4)
    if not lme4_optimum:
        return problems
    compare("criterion (lme4)", criterion, ref["criterion"], 1e-5)
    components = {(c["group"], c["term"]): c for c in random["components"]}
    vc = {key: listed(value) for key, value in ref["vc"].items()}
    for grp, var1, var2, sdcor in zip(vc["grp"], vc["var1"], vc["var2"], vc["sdcor"]):
        if (grp, var1) not in components and grp.rsplit(".", 1)[0] in {c["group"] for c in random["components"]}:
            grp = grp.rsplit(".", 1)[0]
        if var2 == "":
            ours = components.get((grp, var1))
            compare(f"sd {grp} {var1} (lme4)", ours and ours["std_dev"], sdcor, 0.03, 0.01)
    # A mode within 5% of its conditional standard deviation (lme4's noise moves the modes
    # of small, flat fits by a few hundredths), or 0.01.
    modes = {(r[0], r[1], r[2]): r[3] for r in ranef["rows"]}
    re = {key: listed(value) for key, value in ref["ranef"].items()}
    for grpvar, term, grp, value, sd in zip(re["grpvar"], re["term"], re["grp"], re["condval"], re["condsd"]):
        compare(f"mode {grpvar} {grp} {term} (lme4)", modes.get((grpvar, grp, term)), value, 0,
                max(0.01, 0.05 * (sd or 0)))
    for i, (p, q) in enumerate(predicted["rows"]):
        compare(f"prediction {i} (lme4)", p, listed(ref["fitted"])[i], 0.01, 5e-3)
        compare(f"population prediction {i} (lme4)", q, listed(ref["population"])[i], 0.01, 5e-3)
    return problems


def tally(passed, cases):
    singular = sum(1 for case in cases if case["r"].get("singular"))
    refused = sum(1 for case in cases if case.get("refused"))
    lower = sum(1 for case in cases if case.get("lower"))
    degenerate = sum(1 for case in cases if case.get("degenerate"))
    glmms = sum(1 for case in cases if case["family"] != "ols")
    hessians = sum(1 for case in cases if case.get("lme4_hessian"))
    failed = sum(1 for case in cases if case.get("lme4_failed"))
    flat = sum(1 for case in cases if case.get("flat"))
    return (f"{passed} of {len(cases)} mixed models ({glmms} logit, probit or Poisson) equal lme4's ({singular} of them singular "
            f"fits; {refused} both refuse for more random effects than rows; {degenerate} with a "
            f"residual near zero agree in the criterion; in {lower}, spel's criterion is lower than "
            f"where lme4 stopped; in {hessians}, lme4's standard errors differ from the exact "
            f"Hessian's and are not compared; in {flat}, a standard deviation near zero leaves the "
            f"standard errors within 0.2% of the exact; lme4 failed in {failed} that spel fits)")


if __name__ == "__main__":
    main(
        lambda rng, count: with_r(sleepstudy_cases() + [random_case(rng, k) for k in range(count)]),
        check,
        lambda case: f"y ~ {case['rhs']} family={case['family']} reml={case['reml']} rows={len(case['data'])}",
        tally,
    )
