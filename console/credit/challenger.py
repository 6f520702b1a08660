"""A challenger scorecard fitted with OptBinning, exported to the engine's TOML shape.

Fit on the point-in-time development sample only (console/credit/pit.py; the out-of-time
sample stays unseen for the validation report):
1. OptBinning's BinningProcess cuts each of the expert card's factors into bins whose bad
   rate is monotone in the value, in the expert card's direction (TREND), each bin at least
   MIN_BIN_SIZE of the sample, and gives each bin its weight of evidence (WoE);
2. a logistic regression of the bad flag on the WoE values;
3. points by the expert card's scaling: log2 of the good:bad odds the model predicts,
   measured from the base odds, times pdo, the intercept shared equally among the factors.
   On the development sample the scaling's PD 1 / (1 + base_odds · 2^((s − base) / pdo))
   is then the model's, but the PD per grade the version promises is calibrated like the
   expert card's (console/credit/calibration.py, written after the fit).

The result is a TOML file of the same shape as scorecard_v2.toml (edges, doublings, missing,
direction; categories for cert_level; the same grade bands and caps), so the SQL engine and
the Python scorer read both. ``source = "fitted"`` marks it.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from console.credit.scorecard import CATEGORY_FEATURES, Scorecard

# The bad rate must fall (points rise) where the expert card's points rise with the value, and
# the other way round: monotone bins in the direction the business expects, so a small
# development sample cannot teach the card that a longer history is worse.
TREND = {"up": "descending", "down": "ascending"}
MIN_BIN_SIZE = 0.05      # each bin holds at least 5% of the development sample
MAX_N_BINS = 4
C_REGULARISATION = 1.0   # scikit-learn's default L2 strength (a small sample: keep it)


def fit(card: Scorecard, development: pd.DataFrame, *, version: str,
        description: str) -> dict[str, Any]:
    """The challenger's configuration (the TOML's content as a dict) fitted on ``development``
    for the factors of ``card`` (the expert card), with its scaling, bands and thresholds."""
    from optbinning import BinningProcess
    from sklearn.linear_model import LogisticRegression

    names = [f.name for f in card.factors]
    categorical = [n for n in names if n in CATEGORY_FEATURES]
    x = development[names].copy()
    for name in names:
        if name not in categorical:
            x[name] = pd.to_numeric(x[name], errors="coerce").astype(float)
    y = development["bad"].to_numpy(dtype=int)
    process = BinningProcess(
        variable_names=names, categorical_variables=categorical, min_bin_size=MIN_BIN_SIZE,
        max_n_bins=MAX_N_BINS,
        binning_fit_params={f.name: {"monotonic_trend": TREND[f.direction]}
                            for f in card.factors if f.name not in categorical})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        process.fit(x, y)
        woe = process.transform(x, metric="woe")
    model = LogisticRegression(C=C_REGULARISATION, max_iter=1000)
    model.fit(woe.to_numpy(), y)
    beta = dict(zip(names, model.coef_[0]))
    # log-odds of bad = b0 + Σ β·woe; doublings of the good odds over the base odds:
    # (−b0 − Σ β·woe) / ln 2 − log2(base_odds); the constant part shared equally.
    constant = (-model.intercept_[0] / math.log(2) - math.log2(card.base_odds)) / len(names)

    def doublings(name: str, w: float) -> float:
        return round(constant - beta[name] * w / math.log(2), 4)

    factors = []
    for name in names:
        optb = process.get_binned_variable(name)
        table = optb.binning_table.build()
        table = table[~table.index.isin(["Totals"])] if "Totals" in table.index else table
        rows = table[table["Bin"].astype(str) != ""]
        missing_rows = rows[rows["Bin"].astype(str) == "Missing"]
        missing_woe = float(missing_rows["WoE"].iloc[0]) if len(missing_rows) else 0.0
        regular = rows[~rows["Bin"].astype(str).isin(["Missing", "Special"])]
        if name in categorical:
            cats: dict[str, float] = {}
            for split, w in zip(optb.splits, regular["WoE"].astype(float)):
                for category in split:
                    cats[str(category)] = doublings(name, w)
            for category in sorted(CATEGORY_FEATURES[name]):
                cats.setdefault(category, doublings(name, 0.0))
            factors.append({"name": name, "categories": cats,
                            "missing": doublings(name, missing_woe)})
            continue
        edges = [float(s) for s in optb.splits]
        steps = [doublings(name, float(w)) for w in regular["WoE"].astype(float)]
        if len(steps) != len(edges) + 1:      # a variable OptBinning left in one bin
            edges, steps = [], [doublings(name, float(regular["WoE"].astype(float).mean()))]
        direction = "up" if all(b >= a for a, b in zip(steps, steps[1:])) else "down"
        factors.append({"name": name, "direction": direction, "edges": edges,
                        "doublings": steps, "missing": doublings(name, missing_woe)})
    raw = dict(card.raw)
    raw.pop("calibration", None)     # the expert card's promise is not the challenger's
    raw.update(version=version, description=description, source="fitted", factors=factors)
    raw["fit"] = {"rows": int(len(y)), "bad": int(y.sum()),
                  "intercept": round(float(model.intercept_[0]), 6),
                  "coefficients": {n: round(float(b), 6) for n, b in beta.items()}}
    return raw


def to_toml(raw: dict[str, Any], *, header: str = "") -> str:
    """The configuration as TOML in the expert file's layout (no TOML writer in the
    standard library; the shapes here are few and fixed)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return repr(float(v))
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        raise TypeError(type(v))

    lines = [header.rstrip(), ""] if header else []
    scalars = {k: v for k, v in raw.items() if not isinstance(v, (dict, list))}
    lines += [f"{k} = {value(v)}" for k, v in scalars.items()]
    for k, v in raw.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"]
            lines += [f"{kk} = {value(vv)}" for kk, vv in v.items() if not isinstance(vv, dict)]
            for kk, vv in v.items():
                if isinstance(vv, dict):
                    lines += ["", f"[{k}.{kk}]"] + [f"{a} = {value(b)}" for a, b in vv.items()]
    for k, v in raw.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                lines += ["", f"[[{k}]]"] + [f"{a} = {value(b)}" for a, b in item.items()]
    return "\n".join(lines) + "\n"
