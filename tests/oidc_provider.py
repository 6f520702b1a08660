"""A small, real OpenID Connect provider for the single sign-on tests (issue 18).

Run as its own process (``running_provider`` starts one on a free port), it speaks the
protocol st.login speaks to Keycloak, over HTTP, with nothing mocked:

- ``/.well-known/openid-configuration``: the discovery document;
- ``/jwks``: the public half of an RSA key generated at start (RS256, with a key id);
- ``/authorize``: a sign-in form for the preset users (username and password); a good
  sign-in redirects to the registered redirect_uri with a one-time code and the state;
- ``/token``: the authorization-code grant, the client authenticated by HTTP Basic or in the
  form, PKCE (S256) checked, the code usable once; answers an access token and an id_token
  signed with the key, carrying iss, sub, aud, iat, exp, auth_time, the nonce sent to
  /authorize, at_hash, email and name;
- ``/userinfo``: the user's claims for a Bearer access token.

    python -m tests.oidc_provider --port 8700 --client-id console --client-secret s3cret \
        --redirect-uri http://127.0.0.1:8501/oauth2callback \
        --users '{"alice": {"password": "pw", "sub": "u-1", "email": "a@x.cn", "name": "A"}}'
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import html
import json
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CODE_SECONDS = 60
TOKEN_SECONDS = 300


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Provider:
    """The provider's state: its key, its one client, its users, the codes and tokens out."""

    def __init__(self, *, issuer: str, client_id: str, client_secret: str,
                 redirect_uri: str, users: dict[str, dict]) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.users = users
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8),
                                                          "use": "sig", "alg": "RS256"})
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.lock = threading.Lock()

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce",
                                 "email", "name"],
        }

    def jwks(self) -> dict:
        return {"keys": [self.key.as_dict(private=False)]}

    def user_claims(self, username: str) -> dict:
        user = self.users[username]
        return {"sub": user["sub"], "email": user.get("email"), "name": user.get("name")}

    def issue_code(self, *, username: str, params: dict[str, str]) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {"username": username, "nonce": params.get("nonce"),
                                "redirect_uri": params["redirect_uri"],
                                "challenge": params.get("code_challenge"),
                                "challenge_method": params.get("code_challenge_method"),
                                "expires": time.time() + CODE_SECONDS,
                                "auth_time": int(time.time())}
        return code

    def exchange(self, *, code: str, redirect_uri: str, verifier: str | None) -> dict:
        """The token response for a code, or ValueError(error code) per RFC 6749 5.2."""
        with self.lock:
            grant = self.codes.pop(code, None)   # a code is used once
        if grant is None or grant["expires"] < time.time():
            raise ValueError("invalid_grant")
        if redirect_uri != grant["redirect_uri"]:
            raise ValueError("invalid_grant")
        if grant["challenge"] is not None:
            if grant["challenge_method"] != "S256" or not verifier:
                raise ValueError("invalid_grant")
            if _b64url(hashlib.sha256(verifier.encode("ascii")).digest()) != grant["challenge"]:
                raise ValueError("invalid_grant")
        access_token = secrets.token_urlsafe(32)
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now,
                  "exp": now + TOKEN_SECONDS, "auth_time": grant["auth_time"],
                  "at_hash": _b64url(hashlib.sha256(access_token.encode("ascii")).digest()[:16]),
                  **{k: v for k, v in self.user_claims(grant["username"]).items()
                     if v is not None}}
        if grant["nonce"] is not None:
            claims["nonce"] = grant["nonce"]
        id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)
        with self.lock:
            self.access_tokens[access_token] = {"username": grant["username"],
                                                "expires": now + TOKEN_SECONDS}
        return {"access_token": access_token, "token_type": "Bearer",
                "expires_in": TOKEN_SECONDS, "id_token": id_token, "scope": "openid email profile"}


FORM = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP</title></head>
<body><h1>Test identity provider</h1>{error}
<form method="post" action="/authorize">{hidden}
<label>Username <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in at the provider</button></form></body></html>"""
AUTHORIZE_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                    "code_challenge", "code_challenge_method", "prompt")


def make_handler(provider: Provider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args) -> None:   # quiet: the tests read the browser, not this
            pass

        def _send(self, status: int, body: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: dict) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8")
            return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

        def _authorize_params_ok(self, params: dict[str, str]) -> str | None:
            if params.get("client_id") != provider.client_id:
                return "unknown client"
            if params.get("redirect_uri") != provider.redirect_uri:
                return "redirect_uri not registered"
            if params.get("response_type") != "code":
                return "unsupported response_type"
            if "openid" not in (params.get("scope") or "").split():
                return "scope must include openid"
            return None

        def _show_form(self, params: dict[str, str], error: str = "") -> None:
            hidden = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
                             for k, v in params.items() if k in AUTHORIZE_PARAMS)
            body = FORM.format(hidden=hidden, error=f"<p role='alert'>{error}</p>" if error else "")
            self._send(200, body.encode(), "text/html; charset=utf-8")

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            if url.path == "/.well-known/openid-configuration":
                self._json(200, provider.discovery())
            elif url.path == "/jwks":
                self._json(200, provider.jwks())
            elif url.path == "/authorize":
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                problem = self._authorize_params_ok(params)
                if problem:   # never redirect to an unchecked address
                    self._send(400, problem.encode(), "text/plain; charset=utf-8")
                    return
                self._show_form(params)
            elif url.path == "/userinfo":
                auth = self.headers.get("Authorization") or ""
                token = auth.removeprefix("Bearer ").strip()
                grant = provider.access_tokens.get(token)
                if not auth.startswith("Bearer ") or grant is None or grant["expires"] < time.time():
                    self._send(401, b"", "text/plain",
                               {"WWW-Authenticate": 'Bearer error="invalid_token"'})
                    return
                self._json(200, {k: v for k, v in provider.user_claims(grant["username"]).items()
                                 if v is not None})
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path == "/authorize":
                params = self._form()
                problem = self._authorize_params_ok(params)
                if problem:
                    self._send(400, problem.encode(), "text/plain; charset=utf-8")
                    return
                user = provider.users.get(params.get("username", ""))
                if user is None or not secrets.compare_digest(user["password"],
                                                              params.get("password", "")):
                    self._show_form(params, "Wrong username or password.")
                    return
                code = provider.issue_code(username=params["username"], params=params)
                query = {"code": code, **({"state": params["state"]} if params.get("state") else {})}
                self._send(302, b"", "text/plain",
                           {"Location": f"{params['redirect_uri']}?{urlencode(query)}"})
            elif url.path == "/token":
                form = self._form()
                client_id, client_secret = form.get("client_id"), form.get("client_secret")
                auth = self.headers.get("Authorization") or ""
                if auth.startswith("Basic "):
                    decoded = base64.b64decode(auth[6:]).decode("utf-8")
                    client_id, _, client_secret = decoded.partition(":")
                    from urllib.parse import unquote_plus
                    client_id, client_secret = unquote_plus(client_id), unquote_plus(client_secret)
                if client_id != provider.client_id or not secrets.compare_digest(
                        client_secret or "", provider.client_secret):
                    self._json(401, {"error": "invalid_client"})
                    return
                if form.get("grant_type") != "authorization_code":
                    self._json(400, {"error": "unsupported_grant_type"})
                    return
                try:
                    answer = provider.exchange(code=form.get("code", ""),
                                               redirect_uri=form.get("redirect_uri", ""),
                                               verifier=form.get("code_verifier"))
                except ValueError as err:
                    self._json(400, {"error": str(err)})
                    return
                self._json(200, answer)
            else:
                self._send(404, b"not found", "text/plain")

    return Handler


def serve(*, port: int, client_id: str, client_secret: str, redirect_uri: str,
          users: dict[str, dict]) -> None:
    issuer = f"http://127.0.0.1:{port}"
    provider = Provider(issuer=issuer, client_id=client_id, client_secret=client_secret,
                        redirect_uri=redirect_uri, users=users)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(provider))
    print(f"oidc provider at {issuer}", flush=True)
    server.serve_forever()


@contextlib.contextmanager
def running_provider(*, port: int, client_id: str, client_secret: str, redirect_uri: str,
                     users: dict[str, dict]) -> Iterator[str]:
    """Start the provider as its own process on ``port``; yield its issuer URL."""
    cmd = [sys.executable, "-m", "tests.oidc_provider", "--port", str(port),
           "--client-id", client_id, "--client-secret", client_secret,
           "--redirect-uri", redirect_uri, "--users", json.dumps(users)]
    from console.settings import PROJECT_ROOT

    proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration",
                                            timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode(errors="replace"))
            if time.monotonic() > deadline:
                raise RuntimeError("the OIDC provider did not come up within 30 s")
            time.sleep(0.2)
        yield issuer
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        if proc.poll() is None:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--users", required=True, help="JSON: username -> password, sub, email, name")
    args = parser.parse_args(argv)
    serve(port=args.port, client_id=args.client_id, client_secret=args.client_secret,
          redirect_uri=args.redirect_uri, users=json.loads(args.users))
    return 0


if __name__ == "__main__":
    sys.exit(main())
