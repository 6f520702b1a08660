"""`python -m console.credit score | expire | check | validate | calibrate | challenger | register [--config FILE]`.

score      – expire due overrides, then score every merchant in mart.merchant_features with
             the ACTIVE version (run the ETL's merchant-features job first); --config is
             registered first (the first version ever is active; later ones are candidates
             until promoted through the gate on the validation page).
expire     – only mark overrides past their expiry as expired.
check      – load and check a scorecard file, print its points table.
validate   – the validation report of the active version and the candidates on the
             point-in-time development and out-of-time samples (console/credit/validation.py),
             stored for the validation page (ops.credit_validation_reports) and printed;
             a version's calibration holds when Hosmer-Lemeshow p >= 0.05 and no grade is
             red by the one-sided Jeffreys test (p < 0.01; amber 0.01-0.05 is not blocking).
calibrate  – fit the PD per grade on the development sample (console/credit/calibration.py):
             the point estimate and the PD used (point + a margin of conservatism, the
             one-sided Jeffreys upper bound at the section's confidence), and write both
             into the scorecard file's [calibration] section: --config, or
             without it the expert card and the challenger. A file's content is its version:
             a registered version's file is not recalibrated under the same name.
challenger – fit the OptBinning challenger on the development sample and write it as TOML
             (--out, default console/credit/scorecard_c1.toml), calibrated; --register
             registers it.
register   – register --config as a candidate version.

Plain functions underneath, so a scheduler (cron, Airflow, Dagster) can call them too.
The command runs as the jobs' database role (JOBS_DATABASE_URL, README).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from console import db
from console.credit import engine as credit_engine
from console.credit.scorecard import (CHALLENGER_CONFIG, DEFAULT_CONFIG, Scorecard,
                                      ScorecardError, load)
from console.errors import ConsoleError


def score(card: Scorecard) -> int:
    """One scoring run in its own transaction; a failure is recorded as a failed run."""
    # Expiry writes audit rows, which hold the audit chain's head until they commit
    # (migration 061): commit them before the long scoring run, not after it.
    with db.transaction(role="jobs") as conn:
        expired = credit_engine.expire_due_overrides(conn)
    try:
        with db.transaction(role="jobs") as conn:
            run_id = credit_engine.score_all(conn, card)
    except Exception as err:
        with db.transaction(role="jobs") as conn:
            credit_engine.record_failed_run(conn, card, error=f"{type(err).__name__}: {err}")
        raise
    print(f"overrides expired: {expired}")
    return run_id


def _print_distribution(run_id: int) -> None:
    with db.connection(role="jobs") as conn:
        rows = db.fetch_all(conn, """SELECT grade, count(*) AS n,
                                            count(*) FILTER (WHERE insufficient_history) AS ih
                                     FROM ops.credit_scores WHERE run_id = :r
                                     GROUP BY grade ORDER BY ops.credit_grade_rank(grade)""",
                            r=run_id)
    for row in rows:
        print(f"  {row['grade']:>4}  {row['n']:>8,}  (insufficient history: {row['ih']:,})")


def _print_points(card: Scorecard) -> None:
    print(f"scorecard {card.version}: {card.base_points} points at odds {card.base_odds:g}:1, "
          f"pdo {card.pdo:g}")
    for factor in card.factors:
        cells = ", ".join(f"{factor.label(b.bin_no)}={b.points}" for b in factor.bins)
        print(f"  {factor.name}: {cells}")
    for band in card.bands:
        print(f"  {band.grade:>4} ≥ {band.min_score if band.min_score is not None else '−∞'}  "
              f"limit {band.loan_limit:,.0f}  vip {band.vip}")


def _figures(report) -> list[str]:
    from console.credit import validation
    def ci(pair) -> str:
        return f"[{pair[0]:.3f}, {pair[1]:.3f}]"
    lines = []
    for name, perf in (("development", report.development), ("out of time", report.out_of_time)):
        lines.append(f"  {name:<12} {perf.rows:>5} rows, {perf.bad:>3} bad  AUC {perf.auc:.3f} "
                     f"{ci(perf.auc_ci)} (DeLong 95%)  Gini {perf.gini:.3f} {ci(perf.gini_ci)}  "
                     f"KS {perf.ks:.3f} {ci(perf.ks_ci)} (bootstrap 95%)")
    basis = ("calibrated on the development sample" if report.calibrated
             else "the scaling's (no calibration in the file)")
    lines.append(f"  out of time, promised PD = {basis}"
                 + ("; PD used = point + MoC" if report.calibrated else ""))
    lines.append("  grade  merchants  bad  bad rate     point      MoC  PD used  binomial p  "
                 "Jeffreys p  light  scaling PD")
    pct = lambda v: "—" if v != v else f"{v:.2%}"  # noqa: E731
    for g in report.by_grade.itertuples():
        if g.merchants:
            point, moc = getattr(g, "point_pd", float("nan")), getattr(g, "moc", float("nan"))
            lines.append(f"  {g.grade:>5}  {g.merchants:>9}  {g.bad:>3}  {g.bad_rate:>8.1%}  "
                         f"{pct(point):>8}  {pct(moc):>7}  {g.promised_pd:>7.2%}  "
                         f"{g.binomial_p:>10.4f}  {g.jeffreys_p:>10.4f}  "
                         f"{validation.light(g.jeffreys_p):>5}  {g.scaling_pd:>10.2%}")
    lines.append(f"  Hosmer-Lemeshow {report.hl_stat:.2f} on {report.hl_df} df (grades pooled to "
                 f"at least {validation.HL_MIN_EXPECTED:g} expected bad per group), "
                 f"p = {report.hl_p:.3g}; grades monotonic: {report.grades_monotonic}")
    if report.pd_red:
        lines.append(f"  RED by the Jeffreys test (p < {validation.JEFFREYS_RED:g}), the PD used "
                     f"is too low: {', '.join(report.pd_red)}")
    if report.pd_amber:
        lines.append(f"  amber by the Jeffreys test ({validation.JEFFREYS_RED:g} <= p < "
                     f"{validation.JEFFREYS_AMBER:g}), not blocking: {', '.join(report.pd_amber)}")
    o = report.overall
    lines.append(f"  in the large: {o.bad} bad of {o.rows} = {o.observed:.1%} observed vs "
                 f"{o.promised:.1%} promised, binomial p = {o.binomial_p:.3g}")
    why = [] if report.hl_holds else ["Hosmer-Lemeshow p < 0.05"]
    why += [f"red grade(s) {', '.join(report.pd_red)}"] if report.pd_red else []
    lines.append("  calibration out of time: " + (
        "holds" if report.calibration_holds else f"FAILS ({'; '.join(why)})")
        + f" [gate rule: {validation.GATE_RULE}]")
    lines.append(f"  score PSI (out of time vs development) {report.score_psi:.3f} "
                 f"({report.score_psi_level})")
    lines.append("  factor                   IV     alarm    CSI    level")
    for f in report.factors.itertuples():
        lines.append(f"  {f.factor:<22} {f.iv:>6.3f}  {f.iv_alarm:<6} {f.csi:>6.3f}  {f.csi_level}")
    if report.leak_alarms:
        lines.append(f"  LEAKAGE ALARM (IV > 1.0): {', '.join(report.leak_alarms)}")
    return lines


def _validate() -> int:
    """Compute the report, store it (what the validation page shows) and print it; under
    the scheduled credit_validation step's lock, as that step runs it."""
    from console import job_runs
    from console.errors import Conflict
    from console.jobs import job_lock
    from console.services.credit import compute_and_store
    with job_lock(db.get_engine(role="jobs"), "credit_validation") as got:
        if not got:
            print("validate: another run holds the credit_validation job's lock; skipped",
                  file=sys.stderr)
            return 2
        # The run log (health): a computation of the same versions at work (a risk
        # officer's recompute) is a skip, as the scheduled step takes it, and writes no row.
        with job_runs.recorded("credit_validation") as run:
            try:
                with db.transaction(role="jobs") as conn:
                    done = compute_and_store(conn)
            except ConsoleError as err:
                if isinstance(err, Conflict):
                    run.skipped()
                else:
                    run.failed(type(err).__name__)
                print(f"validate refused: {err.key}", file=sys.stderr)
                return 1
    found = done.found
    plan = found.plan
    print(f"data observed to {found.data_end}; bad = deposit default, lost dispute or loan "
          f"default within {plan.window_days} days after the score date")
    print(f"development score dates {', '.join(map(str, plan.development))}; "
          f"out-of-time score date {plan.out_of_time}; graded merchants only (NEW left out)")
    for item in found.versions:
        print(f"\nscorecard {item.version} ({item.status}, {item.source})")
        if item.report is None:
            print(f"  not validated: the point-in-time rebuild has no history of "
                  f"{', '.join(item.unrebuilt)}" if item.unrebuilt else
                  "  no sample with both good and bad merchants: nothing to measure")
            continue
        print("\n".join(_figures(item.report)))
    print(f"\nbetter by the report: {found.better}")
    print(f"stored: reports {', '.join(map(str, done.ids))} ({done.seconds:.1f} s)")
    return 0


def _development():
    """The plan and the development sample the validation uses (its out-of-time sample is
    not read)."""
    from console.credit import pit, validation
    from console.settings import get_settings
    from console import clock
    window = get_settings().credit_label_window_days
    with db.connection(role="jobs") as conn:
        last = db.scalar(conn, "SELECT mart.cn_date(max(occurred_at)) FROM app.events")
        plan = pit.plan(data_end=validation.data_end(last, clock.today()), window_days=window)
        development = pit.sample(conn, dates=plan.development, window_days=window)
    return plan, development


def _sample_note(plan, development) -> str:
    return (f"development sample: score dates {', '.join(map(str, plan.development))}, bad "
            f"within {plan.window_days} days after the date ({len(development)} rows, "
            f"{int(development['bad'].sum())} bad)")


def _calibrate(paths: list[Path]) -> int:
    from console.credit import calibration
    plan, development = _development()
    note = _sample_note(plan, development)
    for path in paths:
        card = load(path)
        fitted = calibration.fit(card, development, score_dates=plan.development,
                                 window_days=plan.window_days)
        calibration.write(path, fitted)
        print(f"{path}: {card.version} calibrated on the {note}; PD used = point + margin of "
              f"conservatism (one-sided Jeffreys upper bound at {fitted['confidence']:.0%} of "
              f"the grade's pooled development bad rate, monotone)")
        for grade, value in fitted["pd"].items():
            point = fitted["point"][grade]
            print(f"  {grade:>4}  {fitted['merchants'][grade]:>5} merchants  "
                  f"{fitted['bad_by_grade'][grade]:>3} bad  point {point:.2%}  "
                  f"MoC {value - point:.2%}  PD used {value:.2%}")
    return 0


def _challenger(out: Path, *, register: bool) -> int:
    from console.credit import calibration, challenger
    card = load(DEFAULT_CONFIG)
    plan, development = _development()
    window = plan.window_days
    raw = challenger.fit(card, development, version="c1",
                         description="Challenger fitted with OptBinning (monotone WoE bins, "
                                     "logistic regression) on the point-in-time development sample.")
    header = (f"# Challenger scorecard, fitted by `python -m console.credit challenger` on the\n"
              f"# development sample: score dates {', '.join(map(str, plan.development))}, "
              f"bad within {window} days\n"
              f"# ({len(development)} rows, {int(development['bad'].sum())} bad). Same shape as "
              f"scorecard_v2.toml; source = \"fitted\".")
    out.write_text(challenger.to_toml(raw, header=header), encoding="utf-8")
    calibration.write(out, calibration.fit(load(out), development, score_dates=plan.development,
                                           window_days=plan.window_days))
    fitted = load(out)
    print(f"wrote {out}: {fitted.version}, {len(fitted.factors)} factors")
    if register:
        with db.transaction(role="jobs") as conn:
            version_id = credit_engine.register_version(conn, fitted)
        print(f"registered as version {version_id}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.credit")
    parser.add_argument("command", choices=["score", "expire", "check", "validate", "calibrate",
                                            "challenger", "register"])
    parser.add_argument("--config", type=Path, default=None,
                        help="scorecard file (default: console/credit/scorecard_v2.toml)")
    parser.add_argument("--out", type=Path, default=CHALLENGER_CONFIG,
                        help="challenger: where to write the fitted card")
    parser.add_argument("--register", action="store_true", help="challenger: register it too")
    args = parser.parse_args(argv)
    if args.command == "validate":
        return _validate()
    if args.command == "challenger":
        return _challenger(args.out, register=args.register)
    if args.command == "calibrate":
        return _calibrate([args.config] if args.config else [DEFAULT_CONFIG, CHALLENGER_CONFIG])
    try:
        card = load(args.config or DEFAULT_CONFIG)
    except (ScorecardError, KeyError, TypeError) as err:
        print(f"scorecard file refused: {err}", file=sys.stderr)
        return 2
    if args.command == "check":
        _print_points(card)
        return 0
    if args.command == "register":
        with db.transaction(role="jobs") as conn:
            version_id = credit_engine.register_version(conn, card)
            status = db.scalar(conn, "SELECT status FROM ops.credit_scorecard_versions WHERE id = :v",
                               v=version_id)
        print(f"scorecard {card.version}: version {version_id}, {status}")
        return 0
    from console import job_runs
    from console.jobs import job_lock
    # Expiry and scoring are the scheduled jobs' "credit" step: one run at a time, whether
    # it comes from `python -m console jobs`, cron or this command.
    with job_lock(db.get_engine(role="jobs"), "credit") as got:
        if not got:
            print("credit: another run holds the credit job's lock; skipped", file=sys.stderr)
            return 2
        if args.command == "expire":
            with db.transaction(role="jobs") as conn:
                print(f"overrides expired: {credit_engine.expire_due_overrides(conn)}")
            return 0
        started = time.perf_counter()
        with job_runs.recorded("credit") as run:   # the run log health reads, as the step
            try:
                run_id = score(card)
            except ConsoleError as err:
                run.failed(type(err).__name__)
                print(f"scoring refused: {err.key} {err.params}", file=sys.stderr)
                return 1
    with db.connection(role="jobs") as conn:
        # The run's own version: the active one scores, whichever file was named.
        run = db.fetch_one(conn, """SELECT r.merchants_scored, v.version
                                    FROM ops.credit_runs r
                                    JOIN ops.credit_scorecard_versions v ON v.id = r.version_id
                                    WHERE r.id = :r""", r=run_id)
    print(f"run {run_id}: {run['merchants_scored']:,} merchants scored with {run['version']} "
          f"in {time.perf_counter() - started:.1f}s")
    _print_distribution(run_id)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
