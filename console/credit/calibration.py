"""The PD each grade promises, calibrated on the point-in-time development sample.

The points scaling (600 points = odds 19:1, 50 points to double) is a convention, not a
measurement: out of time, the bad rates of the demo's grades were far from the PDs it implies
(Hosmer–Lemeshow p 8e-7 for v2, 5e-11 for c1, on the demo's first, one-year history). With
the calibration below, fitted on six monthly development snapshots of the demo's two years
(2,641 rows, 113 bad), the point estimates held out of time by Hosmer–Lemeshow (41 bad of
898: v2 2.43 on 4 df, p 0.66; c1 10.53 on 5 df, p 0.061) but grade by grade some were too
low (one-sided Jeffreys: c1's B 11 of 78 at 6.74%, p 0.0096; v2's AAA 1 of 3 at 1.39%, p
0.0055). With the margin of conservatism below (90%), the PDs used hold: v2 HL 5.90 on 5
df, p 0.32, no grade red (AAA amber, p 0.029); c1 HL 10.32 on 5 df, p 0.067, every grade
green (AA 7 of 165 at 2.65%, p 0.11; B at 9.50%, p 0.088). A validator signs the PD per
grade that the version states, so each scorecard file carries its own ``[calibration]``
section, fitted here on the DEVELOPMENT sample only (the out-of-time sample stays unseen
for the report):

1. the observed bad rate of each grade (merchants, bad) on the development sample;
2. made monotone from the best grade to the worst with the pool-adjacent-violators
   algorithm (weighted by merchants): a grade whose rate is below a better grade's is pooled
   with it, so the promise never falls as the grade worsens;
3. a grade without development merchants takes the PD of the nearest worse grade that has
   some (or of the nearest better one when none is worse): no promise better than the data;
   a grade with fewer than MIN_GRADE_MERCHANTS is pooled with its worse neighbour (the worst
   such grade with its better one) before step 2: three merchants without a bad are no
   evidence for a PD at the floor (v2's AAA had 4 on the demo's development sample);
4. every PD at least PD_FLOOR (the Basel 3.1 / CRR3 input floor for corporate PDs, 0.05%):
   a grade without a bad in a small sample is not promised a PD of zero.

Steps 1–4 give the POINT estimate. The PD a version states and everything downstream uses
(the promise the out-of-time tests check, the expected loss PD × exposure × LGD of loans)
is the point estimate plus a margin of conservatism (MoC) for estimation error, as the
EBA guidelines on PD estimation (EBA/GL/2017/16, section 4.4, category C) and the ECB guide
to internal models ask:

5. the upper bound of the one-sided Jeffreys interval, at the ``confidence`` level the file's
   ``[calibration]`` states (DEFAULT_CONFIDENCE when it states none), of the bad rate of the
   pool the grade's point estimate came from (the thin-grade pools after pool adjacent
   violators merged them: K bad of N rows): Beta(K + ½, N − K + ½).ppf(confidence);
6. never below the point estimate, and kept monotone from AAA to C (a running maximum: a
   worse grade is never promised less than a better one, and no grade is lowered);
   empty grades take the nearest worse grade's, as in step 3.

MoC = PD used − point estimate. The file states both: ``point`` (steps 1–4) and ``pd`` (the
PD used, steps 5–6), with ``confidence``; the scorecard engine reads ``pd``.

The section is part of the file, so of the version's content hash: the PD a version promises
is registered with it and cannot change under its name. ``python -m console.credit
calibrate`` writes it (and ``challenger`` for the fitted card).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from console.credit.metrics import pool_consecutive

PD_FLOOR = 0.0005
DEFAULT_CONFIDENCE = 0.90   # the one-sided Jeffreys upper bound of the margin of conservatism
MIN_GRADE_MERCHANTS = 20
METHOD = "pava"
MARKER = "# ---- calibration: written by `python -m console.credit calibrate`; do not edit by hand ----"


def pava(rates, weights) -> np.ndarray:
    """The weighted least-squares non-decreasing fit of ``rates`` (pool adjacent violators)."""
    return np.concatenate([np.full(len(b), m) for m, b in pava_blocks(rates, weights)]) \
        if len(np.atleast_1d(rates)) else np.array([])


def pava_blocks(rates, weights) -> list[tuple[float, list[int]]]:
    """Pool adjacent violators: the fitted value of each final block and the positions it
    pools (a block's value is the weighted mean of its rates)."""
    blocks: list[tuple[float, float, list[int]]] = []     # weighted mean, weight, positions
    pairs = zip(np.asarray(rates, dtype=float), np.asarray(weights, dtype=float))
    for i, (r, w) in enumerate(pairs):
        blocks.append((r, w, [i]))
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            r2, w2, p2 = blocks.pop()
            r1, w1, p1 = blocks.pop()
            blocks.append(((r1 * w1 + r2 * w2) / (w1 + w2), w1 + w2, p1 + p2))
    return [(m, p) for m, _, p in blocks]


def jeffreys_upper(bad: float, n: float, confidence: float = DEFAULT_CONFIDENCE) -> float:
    """The upper bound of the one-sided Jeffreys interval of a default rate after ``bad`` of
    ``n``: the ``confidence`` quantile of Beta(bad + ½, n − bad + ½) (the posterior under the
    Jeffreys prior Beta(½, ½); the same distribution the out-of-time Jeffreys test uses)."""
    if not n:
        return float("nan")
    return float(stats.beta.ppf(confidence, bad + 0.5, n - bad + 0.5))


def thin_pools(merchants, *, min_merchants: int = MIN_GRADE_MERCHANTS) -> list[list[int]]:
    """Positions of consecutive grades (best first) pooled so that each pool holds at least
    ``min_merchants``: a thin grade joins its worse neighbour; a thin pool at the worst end
    joins the pool before it."""
    return pool_consecutive(merchants, minimum=min_merchants)


def calibrate(grades, bad, *, order, floor: float = PD_FLOOR,
              min_merchants: int = MIN_GRADE_MERCHANTS,
              confidence: float = DEFAULT_CONFIDENCE) -> pd.DataFrame:
    """Per grade of ``order`` (best first): merchants, bad, observed rate on the sample, the
    point estimate ``point`` (thin grades pooled, monotone, gaps filled from the worse side,
    floored), the pool it came from (``pool_merchants``, ``pool_bad``), the pool's Jeffreys
    upper bound at ``confidence`` (``upper``), the PD used ``pd`` (the upper bound, never
    below the point estimate, monotone) and ``moc`` = pd − point."""
    if not 0 < confidence < 1:
        raise ValueError(f"calibration confidence must be between 0 and 1, not {confidence!r}")
    frame = pd.DataFrame({"grade": list(grades), "bad": np.asarray(bad, dtype=int)})
    counts = frame.groupby("grade")["bad"].agg(merchants="size", bad="sum")
    table = counts.reindex(list(order), fill_value=0).rename_axis("grade").reset_index()
    table["observed"] = np.where(table["merchants"] > 0,
                                 table["bad"] / table["merchants"].where(table["merchants"] > 0, 1),
                                 np.nan)
    populated = table["merchants"] > 0
    fitted = pd.Series(np.nan, index=table.index)
    pool_n = pd.Series(np.nan, index=table.index)
    pool_k = pd.Series(np.nan, index=table.index)
    upper = pd.Series(np.nan, index=table.index)
    if populated.any():
        idx = table.index[populated]
        pools = thin_pools(table.loc[idx, "merchants"].to_numpy(), min_merchants=min_merchants)
        n = table.loc[idx, "merchants"].to_numpy(dtype=float)
        k = table.loc[idx, "bad"].to_numpy(dtype=float)
        pooled_n = np.array([n[b].sum() for b in pools])
        pooled_k = np.array([k[b].sum() for b in pools])
        for value, members in pava_blocks(pooled_k / pooled_n, pooled_n):
            positions = idx[[i for m in members for i in pools[m]]]
            big_n, big_k = pooled_n[members].sum(), pooled_k[members].sum()
            fitted[positions] = value
            pool_n[positions], pool_k[positions] = big_n, big_k
            upper[positions] = jeffreys_upper(big_k, big_n, confidence)
        fitted = fitted.bfill().ffill()    # an empty grade: the nearest worse grade's PD first
        conservative = np.maximum(upper, fitted).bfill().ffill()
    else:
        fitted[:] = floor
        conservative = fitted.copy()
    table["point"] = np.maximum(fitted.to_numpy(dtype=float), floor)
    table["pool_merchants"] = pool_n.to_numpy()
    table["pool_bad"] = pool_k.to_numpy()
    table["upper"] = upper.to_numpy()
    used = np.maximum(conservative.to_numpy(dtype=float), table["point"].to_numpy())
    table["pd"] = np.maximum.accumulate(used)            # monotone from the best grade on
    table["moc"] = table["pd"] - table["point"]
    return table


def confidence_of(card) -> float:
    """The MoC's confidence level the card's ``[calibration]`` states (DEFAULT_CONFIDENCE when
    it states none): a setting of the version, kept when the section is fitted again."""
    stated = (card.raw.get("calibration") or {}).get("confidence", DEFAULT_CONFIDENCE)
    return float(stated)


def fit(card, development: pd.DataFrame, *, score_dates, window_days: int,
        floor: float = PD_FLOOR, confidence: float | None = None) -> dict[str, Any]:
    """The ``[calibration]`` section of ``card`` fitted on ``development`` (rows with the
    card's features and ``bad``, NEW merchants left out, stacked over ``score_dates`` with
    ``window_days``' label window): the grades the card's points give; the MoC at
    ``confidence`` (default: the card's own setting, confidence_of)."""
    from console.credit.scorecard import score_frame
    scored = score_frame(card, development)
    level = confidence_of(card) if confidence is None else float(confidence)
    table = calibrate(scored["score_grade"], development["bad"],
                      order=[b.grade for b in card.bands], floor=floor, confidence=level)
    return section(table, score_dates=score_dates, window_days=window_days, floor=floor,
                   confidence=level)


def section(table: pd.DataFrame, *, score_dates, window_days: int,
            floor: float = PD_FLOOR, confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """The ``[calibration]`` content of a scorecard file from a ``calibrate`` table."""
    grades = table["grade"].tolist()
    return {"method": METHOD, "floor": floor, "confidence": float(confidence),
            "score_dates": [str(d) for d in score_dates], "window_days": int(window_days),
            "rows": int(table["merchants"].sum()), "bad": int(table["bad"].sum()),
            "merchants": {g: int(n) for g, n in zip(grades, table["merchants"])},
            "bad_by_grade": {g: int(n) for g, n in zip(grades, table["bad"])},
            "point": {g: round(float(p), 6) for g, p in zip(grades, table["point"])},
            "pd": {g: round(float(p), 6) for g, p in zip(grades, table["pd"])}}


def to_text(calibration: dict[str, Any]) -> str:
    """The section as TOML (inline tables, so it stays one block at the end of the file)."""
    def inline(values: dict[str, Any]) -> str:
        return "{ " + ", ".join(f"{k} = {v!r}" for k, v in values.items()) + " }"

    dates = ", ".join(f'"{d}"' for d in calibration["score_dates"])
    return "\n".join([
        MARKER,
        "# point: the development sample's bad rate per grade (a grade of fewer than",
        f"# {MIN_GRADE_MERCHANTS} merchants pooled with its neighbour), monotone from AAA to C",
        "# (pool adjacent violators), empty grades from the worse side, floored. pd: the PD",
        "# each grade promises and loans use = point + margin of conservatism: the one-sided",
        "# Jeffreys upper bound at `confidence` of the grade's pooled development bad rate,",
        "# never below point, monotone (console/credit/calibration.py). Validated out of",
        "# time on the page 模型验证.",
        "[calibration]",
        f'method = "{calibration["method"]}"',
        f"floor = {calibration['floor']!r}",
        f"confidence = {calibration['confidence']!r}   # of the Jeffreys upper bound (the MoC)",
        f"score_dates = [{dates}]   # the development sample's score dates",
        f"window_days = {calibration['window_days']}   # bad within this many days after a date",
        f"rows = {calibration['rows']}",
        f"bad = {calibration['bad']}",
        f"merchants = {inline(calibration['merchants'])}",
        f"bad_by_grade = {inline(calibration['bad_by_grade'])}",
        f"point = {inline(calibration['point'])}",
        f"pd = {inline(calibration['pd'])}",
    ]) + "\n"


def write(path: Path | str, calibration: dict[str, Any]) -> None:
    """Replace the file's calibration section (always last, after MARKER) or append one."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if MARKER in text:
        text = text[:text.index(MARKER)]
    elif "\n[calibration]" in text or text.startswith("[calibration]"):
        raise ValueError(f"{path}: a [calibration] section not written by the command; remove it")
    path.write_text(text.rstrip("\n") + "\n\n" + to_text(calibration), encoding="utf-8")
