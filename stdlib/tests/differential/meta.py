"""Meta-analysis by spel's `meta` and by R's metafor (`rma`, from Debian's r-cran-metafor).

First the BCG vaccine trials (examples/data/bcg.csv, metafor's dat.bcg: log risk ratios
from the 2x2 counts) by every method, with and without Knapp–Hartung, at two levels.
Then random seeded cases: 2 to 40 studies, standard errors spread evenly or unevenly,
true effects spread by a between-study variance that is often 0 (τ² on the boundary),
sometimes large; a random method, Knapp–Hartung in some, another level in some.

Last, 120 random studies' counts (a tenth with a zero cell) and means through `effect`
(log_rr, log_or, rd, smd) and metafor's `escalc` (metafor/escalc.R), each effect size and
variance compared to 1e-9.

Compared (1e-6 relative): the pooled estimate, its standard error, z or t, p-value and
interval, the prediction interval, τ², I², H², Q and its p-value, each study's weight;
each leave-one-out estimate, standard error, τ² and Q; Egger's t, p-value and limit; and
each random subgroup's estimate, standard error and τ², and the test of their difference
(1e-5: the note writes Q to six digits).
metafor runs once over all cases (metafor/pool.R), with REML's and Paule–Mandel's
tolerances tightened to 1e-12.
"""
import json
import os
import subprocess
import tempfile

import numpy as np
import pandas as pd

from harness import close, main, run_spel, values

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
METHODS = {"reml": "REML", "dl": "DL", "pm": "PM", "fe": "FE"}


def bcg_cases():
    d = pd.read_csv(os.path.join(ROOT, "examples", "data", "bcg.csv"))
    y = np.log((d.tpos / (d.tpos + d.tneg)) / (d.cpos / (d.cpos + d.cneg)))
    se = np.sqrt(1 / d.tpos - 1 / (d.tpos + d.tneg) + 1 / d.cpos - 1 / (d.cpos + d.cneg))
    cases = []
    for method in METHODS:
        for hk in (False, True):
            for level in (0.95, 0.9):
                if method == "fe" and hk:
                    continue
                cases.append({"name": f"bcg {method} hk={hk} level={level}", "y": list(y),
                              "se": list(se), "group": list(d.alloc), "method": method,
                              "hk": hk, "level": level})
    return cases


def random_case(rng, k_case):
    k = int(rng.integers(2, 41))
    se = rng.uniform(0.05, 0.6, k) if rng.random() < 0.5 else np.exp(rng.normal(-1.5, 0.8, k))
    tau = 0.0 if rng.random() < 0.3 else float(rng.choice([0.05, 0.2, 0.6, 2.0]))
    y = rng.normal(0.3, 1) + rng.normal(0, tau, k) + rng.normal(0, se)
    return {
        "name": f"random {k_case} (k = {k}, tau = {tau})",
        "y": [round(float(v), 6) for v in y],
        "se": [round(float(s), 6) for s in se],
        "group": [str(g) for g in rng.choice(["a", "b", "c", "d"][: int(rng.integers(1, 5))], k)],
        "method": str(rng.choice(list(METHODS))),
        "hk": bool(rng.random() < 0.3),
        "level": 0.95 if rng.random() < 0.8 else 0.9,
    }


def with_metafor(cases):
    """Each case with metafor's results attached (one R run for all)."""
    with tempfile.TemporaryDirectory() as work:
        given, taken = os.path.join(work, "cases.json"), os.path.join(work, "results.json")
        with open(given, "w") as f:
            json.dump([{"y": c["y"], "se": c["se"], "group": c["group"], "method": METHODS[c["method"]],
                        "hk": c["hk"], "level": c["level"]} for c in cases], f)
        subprocess.run(["Rscript", os.path.join(ROOT, "stdlib", "tests", "differential", "metafor", "pool.R"),
                        given, taken], check=True)
        with open(taken) as f:
            for case, result in zip(cases, json.load(f)):
                case["metafor"] = result
    return cases


def effect_size_case(rng, rows=120):
    """One case holding many studies' counts (zero cells in some) and means, for `effect`
    against escalc."""
    n1, n2 = rng.integers(5, 400, rows), rng.integers(5, 400, rows)
    a = rng.binomial(n1, rng.uniform(0.0, 0.4, rows))
    c = rng.binomial(n2, rng.uniform(0.0, 0.4, rows))
    a[rng.random(rows) < 0.1] = 0
    return {"name": "effect sizes against escalc", "kind": "escalc", "data": pd.DataFrame({
        "a": a, "b": n1 - a, "c": c, "d": n2 - c,
        "m1": np.round(rng.normal(10, 3, rows), 3), "s1": np.round(rng.uniform(0.5, 5, rows), 3),
        "n1": rng.integers(2, 200, rows),
        "m2": np.round(rng.normal(10, 3, rows), 3), "s2": np.round(rng.uniform(0.5, 5, rows), 3),
        "n2": rng.integers(2, 200, rows)})}


def with_escalc(case):
    with tempfile.TemporaryDirectory() as work:
        given, taken = os.path.join(work, "in.csv"), os.path.join(work, "out.csv")
        case["data"].to_csv(given, index=False)
        subprocess.run(["Rscript", os.path.join(ROOT, "stdlib", "tests", "differential", "metafor", "escalc.R"),
                        given, taken], check=True)
        case["escalc"] = pd.read_csv(taken)
    return case


def check_effect_sizes(case, spel, work):
    program = lambda path: "".join(
        f'read "{path}" |> effect {m}, treated = [{t}], control = [{c}]\n'
        for m, t, c in (("log_rr", "a, b", "c, d"), ("log_or", "a, b", "c, d"), ("rd", "a, b", "c, d"),
                        ("smd", "m1, s1, n1", "m2, s2, n2")))
    out = run_spel(spel, work, case["data"], program)
    if out.returncode != 0:
        return [f"spel failed: {out.stderr.strip()[:500]}"]
    problems = []
    for table, m in zip(values(out), ("RR", "OR", "RD", "SMD")):
        cols = table["columns"]
        for i, r in enumerate(table["rows"]):
            y, se = r[cols.index("effect")], r[cols.index("se")]
            ry, rv = case["escalc"][f"{m}_yi"][i], case["escalc"][f"{m}_vi"][i]
            if not (close(y, ry, 1e-9) and close(se * se, rv, 1e-9)):
                problems.append(f"{m} row {i + 1}: spel {y!r}, {se * se!r}; escalc {ry!r}, {rv!r}")
    case["failed"] = bool(problems)
    return problems


def spel_program(case, path):
    options = ["se = se"]
    if case["method"] != "reml":
        options.append(f"method = {case['method']}")
    if case["hk"]:
        options.append("hk = true")
    if case["level"] != 0.95:
        options.append(f"level = {case['level']}")
    call = f"meta y, {', '.join(options)}"
    grouped = f"meta y by g, {', '.join(options)}"
    program = (f'd = read "{path}"\nd |> {call}\nd |> {call}, show = heterogeneity\n'
               f'd |> {call}, show = studies\nd |> {call}, show = leave_one_out\nd |> {grouped}\n')
    if len(case["y"]) >= 3:
        program += f'd |> {call}, show = egger\n'
    return program


def check(case, spel, work):
    if case.get("kind") == "escalc":
        return check_effect_sizes(case, spel, work)
    data = pd.DataFrame({"y": case["y"], "se": case["se"], "g": case["group"]})
    out = run_spel(spel, work, data, lambda path: spel_program(case, path))
    ref = case["metafor"]
    if ref.get("refused"):
        if out.returncode == 0:
            return ["metafor refused but spel answered"]
        case["refused"] = True
        return []
    if out.returncode != 0:
        return [f"spel failed: {out.stderr.strip()[:500]}"]
    results = values(out)
    summary, heterogeneity, studies, loo, grouped = results[:5]
    egger = results[5] if len(results) > 5 else None
    rows = {r[0]: dict(zip(summary["columns"], r)) for r in summary["rows"]}
    stat = "t" if case["hk"] else "z"
    pooled = rows["pooled"]
    pairs = [("estimate", pooled["estimate"], ref["b"]), ("std_error", pooled["std_error"], ref["se"]),
             (stat, pooled[stat], ref["stat"]), ("p_value", pooled["p_value"], ref["pval"]),
             ("conf_low", pooled["conf_low"], ref["ci_lb"]), ("conf_high", pooled["conf_high"], ref["ci_ub"])]
    if case["method"] != "fe":
        pairs += [("prediction low", rows["prediction"]["conf_low"], ref["pi_lb"]),
                  ("prediction high", rows["prediction"]["conf_high"], ref["pi_ub"])]
    het = {r[0]: r[1] for r in heterogeneity["rows"]}
    pairs += [("tau2", het["tau2"], ref["tau2"]), ("I2", het["I2"], ref["I2"]),
              ("H2", het["H2"], ref["H2"]), ("Q", het["Q"], ref["Q"]),
              ("Q p", het["Q_p_value"], ref["Qp"])]
    weights = [r[studies["columns"].index("weight")] for r in studies["rows"]]
    pairs += [(f"weight {i + 1}", w, r) for i, (w, r) in enumerate(zip(weights, ref["weights"]))]
    loo_rows = [dict(zip(loo["columns"], r)) for r in loo["rows"]]
    for i, row in enumerate(loo_rows):
        for key, column in (("estimate", "estimate"), ("std_error", "se"), ("tau2", "tau2"), ("Q", "Q")):
            theirs = ref["loo"][column]
            if len(theirs) == len(loo_rows):  # metafor gives no tau2 with a fixed effect
                pairs.append((f"leave out {i + 1} {key}", row[key], theirs[i]))
    if egger is not None and ref.get("egger"):
        slope, limit = egger["rows"][0], egger["rows"][1]
        pairs += [("egger t", slope[3], ref["egger"]["t"]), ("egger p", slope[4], ref["egger"]["p"]),
                  ("egger limit", limit[1], ref["egger"]["limit"])]
    parts = {r[0]: dict(zip(grouped["columns"], r)) for r in grouped["rows"]}
    for level, part in (ref.get("parts") or {}).items():
        if part is None:
            if parts.get(level, {}).get("estimate") is not None:
                problems_part = f"subgroup {level}: metafor could not pool it, spel did"
                pairs.append((problems_part, 1.0, None))
            continue
        row = parts.get(level)
        if row is None:
            pairs.append((f"subgroup {level} missing", None, part["b"]))
            continue
        pairs += [(f"subgroup {level} estimate", row["estimate"], part["b"]),
                  (f"subgroup {level} std_error", row["std_error"], part["se"]),
                  (f"subgroup {level} tau2", row["tau2"], part["tau2"])]
    problems = []
    if ref.get("between"):
        # The note writes Q to six significant digits.
        note = next((n for n in grouped.get("notes", []) if n.startswith("Test for subgroup")), "")
        q = float(note.split("Q = ")[1].split(" ")[0].replace(",", "")) if note else None
        if q is None or not close(q, ref["between"]["Q"], 1e-5):
            problems.append(f"subgroup test Q: spel {q!r}, metafor {ref['between']['Q']!r}")
    for what, ours, theirs in pairs:
        if theirs is None or ours is None:
            if not (theirs is None and ours is None):
                problems.append(f"{what}: spel {ours!r}, metafor {theirs!r}")
        elif not (close(ours, theirs, 1e-6) or abs(ours - theirs) < 1e-9):
            problems.append(f"{what}: spel {ours!r}, metafor {theirs!r}")
    return problems


def tally(passed, cases):
    effect_sizes = next(case for case in cases if case.get("kind") == "escalc")
    cases = [case for case in cases if not case.get("kind")]
    if not effect_sizes["failed"]:
        passed -= 1
    refused = sum(1 for case in cases if case.get("refused"))
    rows = len(effect_sizes["data"])
    return (f"{passed} of {len(cases)} meta-analyses equal metafor's ({refused} of them data both "
            f"refuse); effect sizes of {rows} studies by four measures "
            f"{'differ from' if effect_sizes['failed'] else 'equal'} escalc's")


if __name__ == "__main__":
    main(
        lambda rng, count: with_metafor(bcg_cases() + [random_case(rng, k) for k in range(count)])
        + [with_escalc(effect_size_case(rng))],
        check,
        lambda case: case["name"] if case.get("kind") else
        f"{case['method']} hk={case['hk']} level={case['level']} k={len(case['y'])}",
        tally,
    )
