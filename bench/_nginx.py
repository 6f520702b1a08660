"""The deployment's nginx config (deploy/nginx/console.conf), run as it is in front of console
processes on this machine: for tests/browser/test_nginx_proxy.py and, when nginx is
installed, the sessions load test (bench/sessions_load.py; bench/_sticky_proxy.py stands in
without it).

``render`` copies the config into a work directory changing only addresses, each of which
must be found exactly once (a config that no longer has it fails loudly here, not silently
in a test): the listen port (with TLS, a certificate made for 127.0.0.1; without, a plain
listen and no certificate lines), the two processes' ports, the access log's path. It wraps
the result in a small main config (``http { include console.conf; }`` as
/etc/nginx/nginx.conf does with conf.d) with every path nginx writes in the work directory,
and one extra access log, ``sticky.log``, for the test only: the session cookie's value
(the deploy config never logs it: it is a bearer token), the process that answered, the
status and the request, separated by ``|``.

``NginxProxy(backends, work).running()`` checks the config (``nginx -t``), runs nginx as a
child process (``daemon off``, master and one worker) until the block ends, and reads
``sticky.log`` back as ``Hit`` rows.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from console.settings import PROJECT_ROOT

CONF = PROJECT_ROOT / "deploy" / "nginx" / "console.conf"
DEPLOY_PORTS = (8501, 8502)
_STICKY_FORMAT = "'$cookie_dh_session|$upstream_addr|$status|$request'"


def nginx_binary() -> str | None:
    """Debian installs it in /usr/sbin, which a non-root PATH may not hold."""
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def _replace_once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise ValueError(f"deploy/nginx/console.conf: expected {old!r} once, "
                         f"found it {text.count(old)} times")
    return text.replace(old, new)


def render(*, backends: list[tuple[str, int]], listen_port: int, work: Path,
           tls: bool = True) -> Path:
    """Write work/console.conf (the deploy config, addresses changed) and work/nginx.conf
    (the main config including it); return the main config's path."""
    if len(backends) != len(DEPLOY_PORTS):
        raise ValueError(f"the config names {len(DEPLOY_PORTS)} processes")
    text = CONF.read_text(encoding="utf-8")
    for port, (host, new_port) in zip(DEPLOY_PORTS, backends):
        text = _replace_once(text, f"server 127.0.0.1:{port} ", f"server {host}:{new_port} ")
    cert_line = "    ssl_certificate     /etc/ssl/dealerhub/console.crt;\n"
    key_line = "    ssl_certificate_key /etc/ssl/dealerhub/console.key;\n"
    if tls:
        crt, key = work / "console.crt", work / "console.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(key), "-out", str(crt), "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
        text = _replace_once(text, "    listen 443 ssl;\n",
                             f"    listen 127.0.0.1:{listen_port} ssl;\n")
        text = _replace_once(text, cert_line, f"    ssl_certificate     {crt};\n")
        text = _replace_once(text, key_line, f"    ssl_certificate_key {key};\n")
    else:
        text = _replace_once(text, "    listen 443 ssl;\n", f"    listen 127.0.0.1:{listen_port};\n")
        text = _replace_once(text, cert_line, "")
        text = _replace_once(text, key_line, "")
    log_line = "    access_log /var/log/nginx/console.access.log console_upstream;\n"
    text = _replace_once(text, log_line,
                         f"    access_log {work / 'access.log'} console_upstream;\n"
                         f"    access_log {work / 'sticky.log'} sticky;\n")
    (work / "console.conf").write_text(text, encoding="utf-8")
    # As root (CI), the worker would be `nobody`, which cannot enter a private temp directory.
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = f"""{user}worker_processes 1;
pid {work / 'nginx.pid'};
error_log {work / 'error.log'} notice;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {work / 'client_body'};
    proxy_temp_path {work / 'proxy'};
    fastcgi_temp_path {work / 'fastcgi'};
    uwsgi_temp_path {work / 'uwsgi'};
    scgi_temp_path {work / 'scgi'};
    log_format sticky {_STICKY_FORMAT};
    include {work / 'console.conf'};
}}
"""
    path = work / "nginx.conf"
    path.write_text(main, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Hit:
    """One request in sticky.log: its session cookie (None without one), every process it
    was passed to in order (the last one answered), its status, and the request line."""
    cookie: str | None
    upstreams: tuple[str, ...]
    status: int
    request: str

    @property
    def served_by(self) -> str | None:
        return self.upstreams[-1] if self.upstreams else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class NginxProxy:
    backends: list[tuple[str, int]]
    work: Path
    tls: bool = True
    port: int = 0
    binary: str | None = field(default_factory=nginx_binary)

    def __post_init__(self) -> None:
        if self.binary is None:
            raise FileNotFoundError("nginx is not installed (bash .ci/browser-deps.sh)")
        self.work.mkdir(parents=True, exist_ok=True)
        self.port = self.port or _free_port()
        self.conf = render(backends=self.backends, listen_port=self.port, work=self.work,
                           tls=self.tls)

    def _argv(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.work), "-e", str(self.work / "error.log"),
                "-c", str(self.conf), *extra]

    def check(self) -> subprocess.CompletedProcess:
        """``nginx -t``: the config's syntax and every file it names."""
        return subprocess.run(self._argv("-t"), capture_output=True, text=True, timeout=60)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def running(self) -> Iterator[NginxProxy]:
        checked = self.check()
        if checked.returncode != 0:
            raise RuntimeError(f"nginx -t refused the config:\n{checked.stderr}")
        proc = subprocess.Popen(self._argv("-g", "daemon off;"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(OSError), \
                        socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start: "
                                       + proc.stderr.read().decode(errors="replace")
                                       + self.errors())
                time.sleep(0.1)
            yield self
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)      # fast shutdown: open websockets end
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=15)

    def errors(self) -> str:
        path = self.work / "error.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def hits(self) -> list[Hit]:
        path = self.work / "sticky.log"
        if not path.exists():
            return []
        rows = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            cookie, upstreams, status, request = line.split("|", 3)
            rows.append(Hit(cookie=None if cookie in ("", "-") else cookie,
                            upstreams=tuple(u.strip() for u in upstreams.split(",")
                                            if u.strip() not in ("", "-")),
                            status=int(status), request=request))
        return rows
