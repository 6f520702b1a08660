"""The deployment files (deploy/, issue 18), tested where they can be without a systemd or a
proxy running: systemd's own verifier reads the units, every command they start is one the
console knows, the environment file sets only variables the console reads, and the health
and jobs units' commands run with that file's environment (its URLs pointed at the test's
database) as systemd would run them, exit codes included."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib

import pytest
from sqlalchemy.engine import make_url

from console import db
from console.__main__ import build_parser
from console.jobs import STEP_NAMES
from console.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service")) + sorted((DEPLOY / "systemd").glob("*.timer"))
ENV_FILE = DEPLOY / "console.env.example"
INSTALLED = {"/srv/console/.venv/bin/python": sys.executable, "/srv/console": str(PROJECT_ROOT)}


def _exec_start(unit) -> list[str]:
    [line] = [l for l in unit.read_text(encoding="utf-8").splitlines() if l.startswith("ExecStart=")]
    return line.removeprefix("ExecStart=").split()


def _env(path=ENV_FILE) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def test_the_units_are_what_systemd_accepts(tmp_path):
    verifier = shutil.which("systemd-analyze")
    if verifier is None:
        pytest.skip("systemd-analyze is not installed")
    env_file = tmp_path / "console.env"
    env_file.write_text("", encoding="utf-8")
    names = []
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace("/etc/dealerhub/console.env", str(env_file))
        for installed, here in INSTALLED.items():
            text = text.replace(installed, here)
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
        names.append(unit.name.replace("@.service", "@8501.service"))
    out = subprocess.run([verifier, "verify", *(str(tmp_path / n) for n in names)],
                         capture_output=True, text=True, timeout=120)
    assert (out.returncode, out.stderr.strip()) == (0, "")


def test_every_unit_command_is_a_console_command():
    parser = build_parser()
    commands = {}
    for unit in UNITS:
        if unit.suffix != ".service":
            continue
        argv = _exec_start(unit)
        assert argv[:3] == ["/srv/console/.venv/bin/python", "-m", "console"], unit.name
        args, extra = parser.parse_known_args([a.replace("%i", "8501") for a in argv[3:]])
        commands[unit.name] = (args.command, extra)
    assert commands == {"console-health.service": ("health", []),
                        "console-jobs.service": ("jobs", []),
                        "console@.service": ("serve", ["--server.port=8501"])}
    # A timer starts the service of its name.
    for timer in (DEPLOY / "systemd").glob("*.timer"):
        assert timer.with_suffix(".service").exists()
    # The jobs unit tolerates exit 2 (a step skipped under its lock), not 1.
    assert "SuccessExitStatus=2" in (DEPLOY / "systemd" / "console-jobs.service").read_text()


def test_the_environment_file_sets_only_what_the_console_reads():
    source = "".join(p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "console").glob("*.py"))
    env = _env()
    unread = [name for name in env if f'"{name}"' not in source]
    assert unread == []
    assert {make_url(env[k]).username for k in env if k.endswith("_URL")} == {
        "dh_console", "dh_jobs", "dh_owner", "dh_readonly"}
    assert make_url(env["DATABASE_URL"]).username == "dh_console"
    assert make_url(env["JOBS_DATABASE_URL"]).username == "dh_jobs"
    assert make_url(env["MIGRATE_DATABASE_URL"]).username == "dh_owner"


def test_the_proxy_allows_the_console_s_uploads_and_its_websocket():
    conf = (DEPLOY / "nginx" / "console.conf").read_text(encoding="utf-8")
    with open(PROJECT_ROOT / "streamlit_config.toml", "rb") as fh:
        upload_mb = tomllib.load(fh)["server"]["maxUploadSize"]
    assert re.search(r"client_max_body_size (\d+)m;", conf).group(1) == str(upload_mb)
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    # sticky by the session cookie (an office behind one NAT address is spread), a browser
    # without one yet by its address: a browser's Streamlit session lives in one process
    assert "hash $console_sticky_key consistent;" in conf and "ip_hash" not in conf
    assert '""      $remote_addr;' in conf and "default $cookie_dh_session;" in conf
    ports = sorted(re.findall(r"server 127\.0\.0\.1:(\d+)", conf))
    assert ports == ["8501", "8502"]


def test_the_health_and_jobs_units_run_with_the_environment_file(demo_engine):
    """The environment a unit gets from console.env, its URLs pointed at this test's database
    (each with its role's user), and the unit's own command line."""
    test_db = demo_engine.url.render_as_string(hide_password=False)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(PROJECT_ROOT)}
    for name, value in _env().items():
        env[name] = (db.with_user(test_db, make_url(value).username) if name.endswith("_URL")
                     else value)
    unit_dir = DEPLOY / "systemd"

    def run(unit: str) -> subprocess.CompletedProcess:
        argv = [INSTALLED.get(a, a) for a in _exec_start(unit_dir / unit)]
        return subprocess.run(argv, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=900)

    before = run("console-health.service")
    assert before.returncode == 1, before.stdout
    assert (f"{'job credit':<23}FAILED  no successful run yet (limit 60 min); "
            "run python -m console jobs credit\n") in before.stdout
    jobs = run("console-jobs.service")
    assert jobs.returncode == 0, jobs.stdout + jobs.stderr[-2000:]
    assert [l.split()[0] for l in jobs.stdout.splitlines() if l.startswith("[")] == ["[ok]"] * len(STEP_NAMES)
    after = run("console-health.service")
    assert (after.returncode, after.stdout.strip().splitlines()[-1]) == (0, "healthy"), after.stdout
