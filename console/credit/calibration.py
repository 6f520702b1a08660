"""The PD each grade promises, calibrated on the point-in-time development sample.

The points scaling (600 points = odds 19:1, 50 points to double) is a convention, not a
measurement: out of time, the bad rates of the demo's grades were far from the PDs it implies
(Hosmer–Lemeshow p 8e-7 for v2, 5e-11 for c1, on the demo's first, one-year history). With
the calibration below, fitted on six monthly development snapshots of the demo's two years
(2,641 rows, 113 bad), the promises hold out of time (41 bad of 898): v2 Hosmer–Lemeshow
2.43 on 4 df, p 0.66; c1 10.53 on 5 df, p 0.061. A validator signs the PD per grade that the
version states, so each scorecard file carries its own ``[calibration]`` section, fitted
here on the DEVELOPMENT sample only (the out-of-time sample stays unseen for the report):

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

The section is part of the file, so of the version's content hash: the PD a version promises
is registered with it and cannot change under its name. ``python -m console.credit
calibrate`` writes it (and ``challenger`` for the fitted card).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PD_FLOOR = 0.0005
MIN_GRADE_MERCHANTS = 20
METHOD = "pava"
MARKER = "# ---- calibration: written by `python -m console.credit calibrate`; do not edit by hand ----"


def pava(rates, weights) -> np.ndarray:
    """The weighted least-squares non-decreasing fit of ``rates`` (pool adjacent violators)."""
    blocks: list[list[float]] = []          # [weighted mean, weight, length]
    for r, w in zip(np.asarray(rates, dtype=float), np.asarray(weights, dtype=float)):
        blocks.append([r, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            r2, w2, n2 = blocks.pop()
            r1, w1, n1 = blocks.pop()
            blocks.append([(r1 * w1 + r2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(int(n), m) for m, _, n in blocks]) if blocks else np.array([])


def thin_pools(merchants, *, min_merchants: int = MIN_GRADE_MERCHANTS) -> list[list[int]]:
    """Positions of consecutive grades (best first) pooled so that each pool holds at least
    ``min_merchants``: a thin grade joins its worse neighbour; a thin pool at the worst end
    joins the pool before it."""
    pools: list[list[int]] = []
    open_pool: list[int] = []
    total = 0.0
    for i, n in enumerate(np.asarray(merchants, dtype=float)):
        open_pool.append(i)
        total += n
        if total >= min_merchants:
            pools.append(open_pool)
            open_pool, total = [], 0.0
    if open_pool:
        if pools:
            pools[-1] = pools[-1] + open_pool
        else:
            pools.append(open_pool)
    return pools


def calibrate(grades, bad, *, order, floor: float = PD_FLOOR,
              min_merchants: int = MIN_GRADE_MERCHANTS) -> pd.DataFrame:
    """Per grade of ``order`` (best first): merchants, bad, observed rate on the sample and
    the calibrated PD (thin grades pooled, monotone, gaps filled from the worse side,
    floored)."""
    frame = pd.DataFrame({"grade": list(grades), "bad": np.asarray(bad, dtype=int)})
    counts = frame.groupby("grade")["bad"].agg(merchants="size", bad="sum")
    table = counts.reindex(list(order), fill_value=0).rename_axis("grade").reset_index()
    table["observed"] = np.where(table["merchants"] > 0,
                                 table["bad"] / table["merchants"].where(table["merchants"] > 0, 1),
                                 np.nan)
    populated = table["merchants"] > 0
    fitted = pd.Series(np.nan, index=table.index)
    if populated.any():
        idx = table.index[populated]
        blocks = thin_pools(table.loc[idx, "merchants"].to_numpy(), min_merchants=min_merchants)
        n = table.loc[idx, "merchants"].to_numpy(dtype=float)
        k = table.loc[idx, "bad"].to_numpy(dtype=float)
        pooled_n = np.array([n[b].sum() for b in blocks])
        pooled = pava([k[b].sum() / n[b].sum() for b in blocks], pooled_n)
        for block, value in zip(blocks, pooled):
            fitted[idx[block]] = value
        fitted = fitted.bfill().ffill()    # an empty grade: the nearest worse grade's PD first
    else:
        fitted[:] = floor
    table["pd"] = np.maximum(fitted.to_numpy(dtype=float), floor)
    return table


def fit(card, development: pd.DataFrame, *, score_dates, window_days: int,
        floor: float = PD_FLOOR) -> dict[str, Any]:
    """The ``[calibration]`` section of ``card`` fitted on ``development`` (rows with the
    card's features and ``bad``, NEW merchants left out, stacked over ``score_dates`` with
    ``window_days``' label window): the grades the card's points give."""
    from console.credit.scorecard import score_frame
    scored = score_frame(card, development)
    table = calibrate(scored["score_grade"], development["bad"],
                      order=[b.grade for b in card.bands], floor=floor)
    return section(table, score_dates=score_dates, window_days=window_days, floor=floor)


def section(table: pd.DataFrame, *, score_dates, window_days: int,
            floor: float = PD_FLOOR) -> dict[str, Any]:
    """The ``[calibration]`` content of a scorecard file from a ``calibrate`` table."""
    grades = table["grade"].tolist()
    return {"method": METHOD, "floor": floor,
            "score_dates": [str(d) for d in score_dates], "window_days": int(window_days),
            "rows": int(table["merchants"].sum()), "bad": int(table["bad"].sum()),
            "merchants": {g: int(n) for g, n in zip(grades, table["merchants"])},
            "bad_by_grade": {g: int(n) for g, n in zip(grades, table["bad"])},
            "pd": {g: round(float(p), 6) for g, p in zip(grades, table["pd"])}}


def to_text(calibration: dict[str, Any]) -> str:
    """The section as TOML (inline tables, so it stays one block at the end of the file)."""
    def inline(values: dict[str, Any]) -> str:
        return "{ " + ", ".join(f"{k} = {v!r}" for k, v in values.items()) + " }"

    dates = ", ".join(f'"{d}"' for d in calibration["score_dates"])
    return "\n".join([
        MARKER,
        "# The PD each grade promises: the development sample's bad rate per grade (a grade of",
        f"# fewer than {MIN_GRADE_MERCHANTS} merchants pooled with its neighbour), monotone from AAA to C",
        "# (pool adjacent violators), empty grades from the worse side, floored",
        "# (console/credit/calibration.py). Validated out of time on the page 模型验证.",
        "[calibration]",
        f'method = "{calibration["method"]}"',
        f"floor = {calibration['floor']!r}",
        f"score_dates = [{dates}]   # the development sample's score dates",
        f"window_days = {calibration['window_days']}   # bad within this many days after a date",
        f"rows = {calibration['rows']}",
        f"bad = {calibration['bad']}",
        f"merchants = {inline(calibration['merchants'])}",
        f"bad_by_grade = {inline(calibration['bad_by_grade'])}",
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
