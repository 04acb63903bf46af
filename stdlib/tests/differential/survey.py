"""Design-based estimates by spel's `survey` and `estimate` and by R's survey package
(`svydesign`, `svymean`, `svytotal`, `svyquantile`, `svyby`, from Debian's r-cran-survey).

First the package's own `api` samples (examples/data/apistrat.csv, apiclus1.csv): the
stratified sample with its population sizes and the one-stage cluster sample. Then random
seeded designs: with and without strata (up to six), PSUs (one to eight a stratum, single
rows otherwise), population sizes (counts or fractions, or none) and weights (none when the
population sizes give them; some below 1, where no design effect exists); strata with one
PSU under each `lonely_psu` rule (R's `survey.lonely.psu`); a tenth of the variable
missing; a subpopulation (`filter` against R's `subset`) in some, groups (`by` against
`svyby`) in others.

Compared (1e-6 relative): each mean's, total's and proportion's estimate, standard error
and design effect; each quantile and its Woodruff interval and standard error; each
group's mean and total with theirs. A design R refuses (a lonely PSU under `fail`) must be
refused by spel. R runs once over all cases (survey/estimate.R).
"""
import os
import tempfile

import numpy as np
import pandas as pd

from harness import close, main, run_spel, values
from harness import with_r as attach_r

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
WORK = tempfile.mkdtemp(prefix="spel-survey-")


def api_cases():
    cases = []
    for name, design in (("apistrat", {"strata": True, "psu": False}), ("apiclus1", {"strata": False, "psu": True})):
        d = pd.read_csv(os.path.join(ROOT, "examples", "data", f"{name}.csv"))
        # Scores scaled so that the logit's `x > 10` splits them.
        data = pd.DataFrame({"st": d.stype, "cl": d.dnum, "w": d.pw, "N": d.fpc, "x": d.api00 / 65,
                             "g": d.stype, "h": d.awards, "u": d.meals / 100.0, "z": d.ell})
        cases.append(dict(name=name, data=data, weights=True, fpc=True, lonely="fail", domain=False,
                          by=True, probs=[0.25, 0.5, 0.75], **design))
    return cases


def random_case(rng, k):
    strata = 0 if rng.random() < 0.25 else int(rng.integers(2, 7))
    psu = bool(rng.random() < 0.6)
    rows = []
    for h in range(max(strata, 1)):
        if psu:
            n_psu = 1 if rng.random() < 0.12 else int(rng.integers(2, 9))
            sizes = rng.integers(1, 11, n_psu)
        else:
            n_psu = 1 if rng.random() < 0.08 else int(rng.integers(2, 41))
            sizes = np.ones(n_psu, dtype=int)
        population = int(np.ceil(n_psu * rng.uniform(1.0, 20.0)))
        base = rng.uniform(1.0, 50.0) if rng.random() < 0.9 else rng.uniform(0.2, 1.5)
        for j, size in enumerate(sizes):
            shift = rng.normal(0, 2)
            for _ in range(size):
                rows.append({"st": f"s{h}", "cl": j + 1, "N": population, "n_psu": n_psu,
                             "w": round(base * rng.uniform(0.8, 1.25), 4),
                             "x": round(10 + shift + rng.normal(0, 3), 3) if rng.random() < 0.7
                             else float(rng.integers(5, 15))})
    d = pd.DataFrame(rows)
    d["x"] = d["x"].where(rng.random(len(d)) > 0.1)
    d["g"] = rng.choice(["a", "b", "c", "d"][: int(rng.integers(2, 5))], len(d))
    d.loc[0, "g"], d.loc[len(d) - 1, "g"] = "a", "b"  # R's svymean needs two levels
    d["h"] = rng.choice(["p", "q", "r"][: int(rng.integers(2, 4))], len(d))
    d["u"] = np.round(rng.random(len(d)), 4)
    d["z"] = np.round(rng.normal(0, 1, len(d)), 4)
    fpc = bool(rng.random() < 0.5)
    if fpc and rng.random() < 0.3:
        d["N"] = d["n_psu"] / d["N"]  # a sampling fraction
    weights = not fpc or rng.random() < 0.7
    probs = sorted(rng.choice([0.1, 0.25, 0.5, 0.75, 0.9], int(rng.integers(1, 4)), replace=False).tolist())
    return dict(name=f"random {k}", data=d.drop(columns="n_psu"), strata=strata > 0, psu=psu, fpc=fpc,
                weights=weights, lonely=str(rng.choice(["fail", "adjust", "certainty"])),
                domain=bool(rng.random() < 0.4), by=bool(rng.random() < 0.4), probs=probs)


def with_r(cases):
    """Each case with R's estimates attached (one R run for all)."""
    keys = ("path", "strata", "psu", "fpc", "weights", "lonely", "domain", "by", "probs")
    script = os.path.join(ROOT, "stdlib", "tests", "differential", "survey", "estimate.R")
    return attach_r(cases, script, lambda c: {key: c[key] for key in keys}, WORK)


def spel_program(case, path):
    options = []
    for option, column in (("weights", "w"), ("strata", "st"), ("psu", "cl"), ("fpc", "N")):
        if case[option]:
            options.append(f"{option} = {column}")
    options.append(f"lonely_psu = {case['lonely']}")
    probs = ", ".join(str(p) for p in case["probs"])
    program = f'd = read "{path}"\ns = survey d, {", ".join(options)}\n'
    if case["domain"]:
        program += "s = s |> filter u > 0.3\n"
    program += f"estimate mean(x), total(x), proportion(g), quantile(x, [{probs}]) from s\n"
    if case["by"]:
        program += "estimate mean(x), total(x) by h from s\n"
    program += "model x ~ z + g from s\ns |> derive high = x > 10 |> model high ~ z, family = logit\n"
    return program


def listed(value):
    """A vector R wrote (one value comes unboxed) as a list."""
    return value if isinstance(value, list) else [value]


def compare(problems, what, ours, theirs):
    if theirs is None or ours is None:
        if not (theirs is None and ours is None):
            problems.append(f"{what}: spel {ours!r}, R {theirs!r}")
    elif not (close(ours, theirs, 1e-6) or abs(ours - theirs) < 1e-9):
        problems.append(f"{what}: spel {ours!r}, R {theirs!r}")


MODEL_REFUSALS = ("spel::model::survey_df", "spel::model::too_few_rows", "spel::model::one_level")


def listed_all(reference):
    return {key: listed(value) for key, value in reference.items()}


def compare_model(problems, label, shown, reference):
    rows = shown["terms"]
    if len(rows) != len(reference["estimate"]):
        problems.append(f"{label}: spel has {len(rows)} coefficients, R {len(reference['estimate'])}")
        return
    for i, row in enumerate(rows):
        compare(problems, f"{label} {row['term']} estimate", row["estimate"], reference["estimate"][i])
        compare(problems, f"{label} {row['term']} se", row["std_error"], reference["se"][i])
        compare(problems, f"{label} {row['term']} p", row["p_value"], reference["p"][i])


def domain_extremes(case):
    """The smallest and largest value of x in the subpopulation."""
    d = case["data"]
    x = d.x[d.u > 0.3] if case["domain"] else d.x
    return {float(x.min()), float(x.max())}


def check(case, spel, work):
    out = run_spel(spel, work, case["data"], lambda path: spel_program(case, path))
    ref = case["r"]
    if ref["refused"]:
        case["refused"] = True
        if out.returncode == 0:
            return [f"R refused ({ref.get('why')}) but spel answered"]
        refusals = ("single PSU", "subpopulation holds no row", "has only one level")
        return [] if any(r in out.stderr for r in refusals) else [f"spel refused otherwise: {out.stderr[:300]}"]
    models_refused = False
    if out.returncode != 0:
        # spel refuses a lonely PSU under `fail` when the design is made; R only when an
        # estimate reaches its stratum, which a subpopulation may leave out.
        if case["lonely"] == "fail" and case["domain"] and "single PSU" in out.stderr:
            case["refused"] = True
            return []
        # A model with no degrees of freedom left, too few rows or a factor of one level
        # in the subpopulation: R gives NaN tests or drops the factor, spel refuses.
        if not any(code in out.stderr for code in MODEL_REFUSALS) or "|> model" in out.stderr:
            return [f"spel failed: {out.stderr.strip()[:500]}"]
        models_refused = True
        case["models_refused"] = True
    results = values(out)
    table = results[0]
    rows = [dict(zip(table["columns"], r)) for r in table["rows"]]
    problems = []
    by_statistic = lambda prefix: [r for r in rows if r["statistic"].startswith(prefix)]
    for key, prefix in (("mean", "mean("), ("total", "total(")):
        [row] = by_statistic(prefix)
        compare(problems, f"{key} estimate", row["estimate"], ref[key]["estimate"])
        compare(problems, f"{key} se", row["std_error"], ref[key]["se"])
        # R's svytotal gives a (negative) design effect even when the weights sum to
        # fewer than the rows; spel, as svymean, gives none.
        if ref["mean"]["deff"] is not None:
            compare(problems, f"{key} deff", row["deff"], ref[key]["deff"])
    shares = {r["level"]: r for r in by_statistic("proportion(")}
    proportion = {key: listed(value) for key, value in ref["proportion"].items()}
    for i, level in enumerate(proportion["levels"]):
        theirs = proportion["estimate"][i]
        if level not in shares:
            if theirs != 0:
                problems.append(f"proportion {level}: spel has none, R {theirs!r}")
            continue
        compare(problems, f"proportion {level}", shares[level]["estimate"], theirs)
        compare(problems, f"proportion {level} se", shares[level]["std_error"], proportion["se"][i])
        compare(problems, f"proportion {level} deff", shares[level]["deff"], proportion["deff"][i])
    quantiles = by_statistic("quantile(")
    extremes = domain_extremes(case)
    for i, row in enumerate(quantiles):
        ends = (row["conf_low"], row["conf_high"])
        for column, key in (("estimate", "estimate"), ("conf_low", "low"), ("conf_high", "high"), ("std_error", "se")):
            theirs = listed(ref["quantile"][key])[i]
            # Where the interval for the share below reaches 0 or 1 exactly, R's end is
            # NaN or the extreme value by the last bit of a sum; spel's is the extreme.
            if theirs is None and any(e in extremes for e in ends) and column != "estimate":
                continue
            compare(problems, f"quantile {case['probs'][i]} {column}", row[column], theirs)
    if case["by"]:
        grouped = [dict(zip(results[1]["columns"], r)) for r in results[1]["rows"]]
        by = {key: listed(value) for key, value in ref["by"].items()}
        for key in ("mean", "total"):
            ours = {r["h"]: r for r in grouped if r["statistic"].startswith(key)}
            for i, group in enumerate(by["groups"]):
                row = ours.get(group)
                if row is None:
                    problems.append(f"{key} by h = {group}: spel has no row")
                    continue
                if row["n"] == 0 and row["estimate"] is None:
                    continue  # no row of the group has x: R writes 0, spel leaves it empty
                compare(problems, f"{key} by h = {group}", row["estimate"], by[key][i])
                compare(problems, f"{key} by h = {group} se", row["std_error"], by[f"{key}_se"][i])
                if by["mean_deff"][i] is not None:
                    compare(problems, f"{key} by h = {group} deff", row["deff"], by[f"{key}_deff"][i])
    models = [] if models_refused else results[2:] if case["by"] else results[1:]
    for (label, key), shown in zip((("ols", "model"), ("logit", "logit")), models):
        reference = listed_all(ref[key])
        # A separated logit's estimates run off to infinity, each tool stopping elsewhere.
        if label == "logit" and max(abs(b) for b in reference["estimate"]) > 15:
            continue
        compare_model(problems, label, shown, reference)
    case["failed"] = bool(problems)
    return problems


def tally(passed, cases):
    refused = sum(1 for case in cases if case.get("refused"))
    small = sum(1 for case in cases if case.get("models_refused"))
    return (f"{passed} of {len(cases)} survey designs' estimates and models equal R survey's "
            f"({refused} of them designs both refuse; in {small}, spel refuses the models "
            f"for too few PSUs or rows)")


if __name__ == "__main__":
    main(
        lambda rng, count: with_r(api_cases() + [random_case(rng, k) for k in range(count)]),
        check,
        lambda case: (f"strata={case['strata']} psu={case['psu']} fpc={case['fpc']} weights={case['weights']} "
                      f"lonely={case['lonely']} domain={case['domain']} by={case['by']}"),
        tally,
    )
