"""A small sticky reverse proxy for the sessions load test (bench/sessions_load.py) and its
test, standing in for nginx (deploy/nginx/console.conf) on a machine without it: with nginx
installed the load test runs the deploy config itself (bench/_nginx.py), and
tests/browser/test_nginx_proxy.py tests that config under nginx.

It passes bytes through untouched once it has chosen a console process for a client
connection, so Streamlit's websocket (/_stcore/stream) works through it as through nginx
with ``Upgrade``/``Connection`` passed on. The choice is sticky:

- by the browser's sign-in cookie (``dh_session``, console/ui/session.py) when the request
  carries one, otherwise by the client's address, as the deploy config's map does (every
  load-test session comes from 127.0.0.1, so the address alone would put them all on one
  process);
- a key seen for the first time goes to the live process holding the fewest keys, and stays
  there ("sticky learn"), so the processes share the sessions evenly (nginx hashes the key
  instead: ``hash ... consistent``, even only on average);
- a process that refuses the connection is marked down for ``down_seconds`` (nginx's
  ``max_fails``/``fail_timeout``) and the key is learnt again on another one: the reconnect
  of a person whose process stopped lands on the other process, which must know them from
  the server-side session (console/sessions.py).

Each request's head gets an ``X-Forwarded-For`` line with the client's address, as the
deploy config adds it. Not a production proxy: no TLS, no limits, one event loop.
"""
from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

COOKIE = "dh_session"
_HEAD_MAX = 64 * 1024
_COOKIE_RE = re.compile(rb"(?im)^cookie:[^\r\n]*?\b" + COOKIE.encode() + rb"=([A-Za-z0-9_-]+)")


@dataclass
class Backend:
    host: str
    port: int
    down_until: float = 0.0


@dataclass
class StickyProxy:
    """``StickyProxy([(host, port), ...]).serve()`` in a thread: ``with proxy.running():``."""

    backends: list[tuple[str, int]]
    host: str = "127.0.0.1"
    port: int = 0
    down_seconds: float = 10.0
    # What happened, for the bench's report and the tests: connections per backend index,
    # and for each key (cookie token or address) the backend it is bound to now.
    connections: Counter = field(default_factory=Counter)
    bound: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._backends = [Backend(h, p) for h, p in self.backends]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ choosing
    def _key(self, head: bytes, peer: str) -> str:
        found = _COOKIE_RE.search(head)
        return f"cookie:{found.group(1).decode()}" if found else f"ip:{peer}"

    def _pick(self, key: str, now: float, exclude: set[int]) -> int | None:
        with self._lock:
            current = self.bound.get(key)
            if current is not None and current not in exclude \
                    and self._backends[current].down_until <= now:
                return current
            live = [i for i, b in enumerate(self._backends)
                    if i not in exclude and b.down_until <= now]
            if not live:
                live = [i for i in range(len(self._backends)) if i not in exclude]
            if not live:
                return None
            held = Counter(self.bound.values())
            chosen = min(live, key=lambda i: (held[i], i))
            self.bound[key] = chosen
            return chosen

    # ------------------------------------------------------------------ serving
    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _handle(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        peer = (client_w.get_extra_info("peername") or ("?",))[0]
        try:
            head = await client_r.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            client_w.close()
            return
        # The client's address for the console (client_ip reads the right-most entry).
        first, _, rest = head.partition(b"\r\n")
        head = first + b"\r\nX-Forwarded-For: " + peer.encode() + b"\r\n" + rest
        key = self._key(head, peer)
        tried: set[int] = set()
        loop = asyncio.get_running_loop()
        while True:
            index = self._pick(key, loop.time(), tried)
            if index is None:
                client_w.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")
                with contextlib.suppress(Exception):
                    await client_w.drain()
                client_w.close()
                return
            backend = self._backends[index]
            try:
                up_r, up_w = await asyncio.open_connection(backend.host, backend.port)
                break
            except OSError:
                backend.down_until = loop.time() + self.down_seconds
                tried.add(index)
        with self._lock:
            self.connections[index] += 1
        up_w.write(head)
        await asyncio.gather(self._pipe(client_r, up_w), self._pipe(up_r, client_w))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port,
                                                  limit=_HEAD_MAX)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @contextlib.contextmanager
    def running(self) -> Iterator[StickyProxy]:
        """Serve in a background thread (its own event loop) until the block ends."""
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            try:
                self._loop.run_until_complete(self._start())
            except BaseException as exc:   # noqa: BLE001 - handed to the caller
                failure.append(exc)
                started.set()
                return
            started.set()
            self._loop.run_forever()
            self._server.close()
            self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()

        thread = threading.Thread(target=serve, name="sticky-proxy", daemon=True)
        thread.start()
        started.wait(10)
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
            thread.join(10)
