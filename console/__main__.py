"""Console commands: `python -m console migrate | jobs | serve | health | audit verify | streamlit-flags`.

Each command connects as the database role its work needs (README "Database roles"):
migrate as the owner, jobs as dh_jobs, the console itself, `health` and `audit verify` as
dh_console.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib

from console import db, logs
from console.first_run import ensure_first_admin, seeds_demo
from console.jobs import STEP_NAMES
from console.migrate import migrate
from console.settings import PROJECT_ROOT, get_settings

CONFIG_FILE = PROJECT_ROOT / "streamlit_config.toml"


def streamlit_options(config_path=CONFIG_FILE) -> dict[str, object]:
    """streamlit_config.toml as {"section.option": value}: the one reading of the file, for
    the served console's flags and for the tests' AppTest."""
    with open(config_path, "rb") as fh:
        config = tomllib.load(fh)
    return {f"{section}.{option}": value
            for section, options in config.items() for option, value in options.items()}


def streamlit_flags(config_path=CONFIG_FILE) -> list[str]:
    """streamlit_config.toml as `--section.option=value` flags for `streamlit run`."""
    return [f"--{key}={str(value).lower() if isinstance(value, bool) else value}"
            for key, value in streamlit_options(config_path).items()]


def _has_demo_data() -> bool:
    with db.get_engine(role="owner").connect() as conn:
        return bool(db.scalar(conn, "SELECT EXISTS (SELECT 1 FROM app.merchants)"))


def cmd_migrate(_args) -> int:
    with logs.timed("migrate", role=db.get_engine(role="owner").url.username) as line:
        applied = migrate(engine=db.get_engine(role="owner"))
        line["applied"] = len(applied)
    print(f"migrations applied: {[m.path.name for m in applied] or 'none (up to date)'}")
    return 0


def cmd_jobs(args) -> int:
    """Exit 0 when every step ran, 1 when one failed, 2 when one was skipped because another
    run of it held its lock (as `python -m etl run` does for a refused job)."""
    from console.jobs import run_all
    results = run_all(engine=db.get_engine(role="jobs"), full=args.full,
                      only=args.steps or None)
    if not all(r.ok for r in results):
        return 1
    return 2 if any(r.skipped for r in results) else 0


def cmd_health(args) -> int:
    """A short report; exit 0 healthy, 1 unhealthy (systemd's check; with --serving only what
    serving pages needs, a load balancer's)."""
    from console.health import main as health
    with logs.timed("health") as line:
        code = health(serving=args.serving)
        line["status"] = "healthy" if code == 0 else "unhealthy"
    return code


def cmd_audit_verify(_args) -> int:
    """Recompute the audit log's hash chain: exit 0 when intact, 1 at the first break."""
    from console.audit import describe_chain, verify_chain
    from console.i18n import translate
    with db.connection() as conn:
        report = verify_chain(conn)
    key, params = describe_chain(report)
    print(translate(key, "en", **{**params, "at": report.verified_at.isoformat(timespec="seconds")}))
    # Kept somewhere the database's superuser cannot reach, the head proves later that
    # nobody rewrote the chain up to here and recomputed every hash after an edit.
    print(f"chain head: link {report.links}, hash {report.head_hash or '-'}")
    return 0 if report.intact else 1


def _seed_demo(args) -> None:
    from console.demo import SeedRefused, seed  # seeding is a one-off on the first run
    from console.demo.model import today_anchor
    from console.jobs import run_all
    print(f"first run: seeding demo data (scale={args.scale}) …", flush=True)
    # The owner fills the demo world (its loader may skip triggers); the system jobs
    # then run as they always will, as dh_jobs.
    try:
        report = seed(engine=db.get_engine(role="owner"), scale=args.scale, seed=args.seed,
                      anchor=today_anchor(), progress=True)
    except SeedRefused as err:  # e.g. --demo on a database that already has its first admin
        raise SystemExit(f"serve: no demo data seeded: {err}") from None
    print("first run: pre-checks, listing flags, match suggestions, marts, credit grades …",
          flush=True)
    run_all(engine=db.get_engine(role="jobs"), full=True)
    from console.demo.__main__ import CREDENTIALS_FILE, credentials_table, write_credentials
    table = credentials_table(report.credentials)
    write_credentials(CREDENTIALS_FILE, table, f"seeded {report.scale}/{report.seed}")
    print("\nStaff accounts (shown once; also in .demo-credentials, mode 0600):\n")
    print(table, flush=True)


def prepare_database(args) -> None:
    """Migrate; then the demo world (embedded server or --demo, into an empty database), or
    on a real database only the first admin account while no account exists."""
    cmd_migrate(args)
    if seeds_demo(demo_flag=args.demo, database_url=get_settings().database_url):
        if not _has_demo_data():
            _seed_demo(args)
        return
    first = ensure_first_admin(engine=db.get_engine())
    if first is not None:
        logs.event("serve.first_admin", staff_id=first.staff_id, username=first.username)
        print(f"first run: created the account {first.username!r} with the role admin; its "
              f"password, shown this once (it must be changed at the first sign-in):\n\n"
              f"    {first.password}\n", flush=True)


def cmd_serve(args) -> int:
    prepare_database(args)
    # Streamlit runs as dh_console (and its "run a job" button as dh_jobs), never as the
    # superuser that migrated; the migration URL stays out of its environment.
    env = {k: v for k, v in os.environ.items() if k != "MIGRATE_DATABASE_URL"}
    env["DATABASE_URL"] = db.role_url("console")
    env["JOBS_DATABASE_URL"] = db.role_url("jobs")
    env["READONLY_DATABASE_URL"] = db.role_url("readonly")
    # console.ui.launch: `streamlit run` without the pages/ folder walk of the first run.
    command = [sys.executable, "-m", "console.ui.launch", "run", str(PROJECT_ROOT / "app.py"),
               *streamlit_flags(), *args.extra]
    return subprocess.call(command, env=env, cwd=PROJECT_ROOT)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m console")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending migrations").set_defaults(fn=cmd_migrate)
    jobs = sub.add_parser("jobs", help="scheduled system jobs: pre-checks, listing flags, "
                          "matching, ETL, credit scoring")
    jobs.add_argument("steps", nargs="*", metavar="JOB",
                      help=f"only these ({', '.join(STEP_NAMES)}); all when none is named")
    jobs.add_argument("--full", action="store_true", help="full rematch and ETL rebuild")
    jobs.set_defaults(fn=cmd_jobs)
    serve = sub.add_parser("serve", help="migrate, seed the demo once (embedded server or "
                           "--demo) or make the first admin account, run the console")
    serve.add_argument("--demo", action="store_true",
                       help="seed the demo world into DATABASE_URL's empty database too")
    serve.add_argument("--scale", default="demo", choices=["small", "demo", "large"])
    serve.add_argument("--seed", type=int, default=42)
    serve.set_defaults(fn=cmd_serve)
    health = sub.add_parser("health", help="database, migrations, replica lag, each scheduled "
                            "job's last success; exit 0 healthy, 1 unhealthy")
    health.add_argument("--serving", action="store_true", help="only the database and the "
                        "migrations: a load balancer's check of one console process")
    health.set_defaults(fn=cmd_health)
    audit = sub.add_parser("audit", help="the audit log's hash chain")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="recompute the chain; exit 0 intact, 1 broken "
                         "(prints where)").set_defaults(fn=cmd_audit_verify)
    sub.add_parser("streamlit-flags", help="print the flags made from streamlit_config.toml"
                   ).set_defaults(fn=lambda a: print(" ".join(streamlit_flags())) or 0)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # serve passes flags it does not know to streamlit, e.g. --server.port=8600
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "serve":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "jobs" and set(args.steps) - set(STEP_NAMES):
        parser.error(f"unknown job(s): {' '.join(sorted(set(args.steps) - set(STEP_NAMES)))}; "
                     f"known: {', '.join(STEP_NAMES)}")
    args.extra = extra
    return args.fn(args)


if __name__ == "__main__":
    raise SystemExit(main())
