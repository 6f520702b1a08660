"""A browser's half of Streamlit's websocket protocol, enough to drive the console as a
person does, for the sessions load test (bench/sessions_load.py) and its test.

What a browser tab does, and what this does in its place (Streamlit 1.67):

- it opens ``/_stcore/stream`` with the subprotocol ``streamlit`` and the cookies of the
  console's address: here the ``Cookie`` header carries the sign-in cookie
  (``dh_session``, console/ui/session.py) when the session has one;
- every interaction is one ``BackMsg.rerun_script`` whose ``ClientState`` names the page
  (``page_name``: the URL path), the query string and the state of the widgets on the page
  (a button's click is a ``trigger_value``, a select box's choice the option's label as
  shown, a text box its text);
- the console answers with ``ForwardMsg``s: ``new_session`` when a run starts, ``delta``s
  with the elements, ``script_finished``. A run that calls ``st.rerun``/``st.switch_page``
  finishes "early for rerun" and the next run follows on its own; the page is there when a
  run finishes successfully. That moment is the page time measured here: from sending the
  message to the last run's end, the same wait a person has before the page stops changing
  (less the browser's drawing).

Elements are kept flat per run (no layout tree): what a test or the load needs is which
widgets there are (by their key: Streamlit's element id ends with ``-<key>``), their
options, the headings, alerts, HTML bodies and exceptions.
"""
from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

SESSION_COOKIE = "dh_session"
_TOKEN_IN_HTML = re.compile(SESSION_COOKIE + r"=([A-Za-z0-9_-]{43});")
_WIDGET_VALUE_KINDS = {"text_input": "string_value", "text_area": "string_value",
                       "selectbox": "string_value", "radio": "string_value",
                       "checkbox": "bool_value", "multiselect": "string_array_value"}
_ALERT_ERROR = 1   # Alert.Format.ERROR


class ProtocolError(RuntimeError):
    """The console closed the stream, or did not finish a run in time."""


@dataclass
class Widget:
    id: str
    kind: str          # the element's type: button, selectbox, radio, text_input, ...
    label: str
    options: list[str]
    proto: object

    @property
    def key(self) -> str | None:
        parts = self.id.split("-", 2)
        return parts[2] if self.id.startswith("$$ID-") and len(parts) == 3 \
            and parts[2] != "None" else None


@dataclass
class Page:
    """What the last finished run showed, and how long it took."""

    ms: float = 0.0
    runs: int = 0                          # script runs the request took (reruns included)
    widgets: list[Widget] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    markdown: list[str] = field(default_factory=list)
    alerts: list[tuple[int, str]] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    page_not_found: bool = False

    @property
    def errors(self) -> list[str]:
        """What a person would read as a failure: tracebacks and st.error boxes."""
        return self.exceptions + [body for fmt, body in self.alerts if fmt == _ALERT_ERROR]

    def widget(self, key: str | None = None, *, label: str | None = None,
               kind: str | None = None) -> Widget | None:
        for w in self.widgets:
            if (key is None or w.key == key) and (label is None or w.label == label) \
                    and (kind is None or w.kind == kind):
                return w
        return None

    def session_token(self) -> str | None:
        """The sign-in token the page hands the browser to keep (console/ui/session.py)."""
        for body in self.html:
            found = _TOKEN_IN_HTML.search(body)
            if found:
                return found.group(1)
        return None


def _collect(page: Page, element) -> None:
    kind = element.WhichOneof("type")
    if kind is None:
        return
    proto = getattr(element, kind)
    if kind == "heading":
        page.headings.append(proto.body)
    elif kind == "markdown":
        page.markdown.append(proto.body)
    elif kind == "alert":
        page.alerts.append((proto.format, proto.body))
    elif kind == "html":
        page.html.append(proto.body)
    elif kind == "exception":
        page.exceptions.append(f"{proto.type}: {proto.message}")
    widget_id = getattr(proto, "id", "")
    if isinstance(widget_id, str) and widget_id.startswith("$$ID-"):
        options = list(getattr(proto, "options", []) or [])
        page.widgets.append(Widget(widget_id, kind, getattr(proto, "label", ""),
                                   [str(o) for o in options], proto))


class Session:
    """One browser tab of the console over the websocket.

    ``async with Session(url, token=...) as s: page = await s.open("home")``
    """

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 180.0,
                 user_agent: str = "dealerhub-bench/1 (websocket protocol)") -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.user_agent = user_agent
        self.page_name = ""
        self.query = ""
        self.last = Page()
        self._values: dict[str, WidgetState] = {}
        self._ws = None
        self._inbox: asyncio.Queue[ForwardMsg | BaseException] = asyncio.Queue()
        self._reader: asyncio.Task | None = None

    # ------------------------------------------------------------------ the connection
    async def connect(self) -> None:
        parsed = urlparse(self.base_url)
        headers = {"User-Agent": self.user_agent}
        if self.token:
            headers["Cookie"] = f"{SESSION_COOKIE}={self.token}"
        self._ws = await websockets.connect(
            f"ws://{parsed.netloc}{parsed.path}/_stcore/stream", subprotocols=["streamlit"],
            additional_headers=headers, max_size=None, ping_interval=None,
            open_timeout=self.timeout, close_timeout=5)
        self._inbox = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._inbox.put_nowait(msg)
        except Exception as exc:   # noqa: BLE001 - handed to whoever waits
            self._inbox.put_nowait(exc)
            return
        self._inbox.put_nowait(ProtocolError("the console closed the stream"))

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):   # noqa: BLE001
                pass
        self._ws = self._reader = None

    async def reconnect(self, *, token: str | None = None) -> None:
        """A reload or a dropped connection: a new stream (a new Streamlit session), with the
        cookie the browser holds now."""
        await self.close()
        if token is not None:
            self.token = token
        self._values.clear()
        await self.connect()

    async def __aenter__(self) -> Session:
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # ------------------------------------------------------------------ interactions
    async def open(self, page_name: str, query: str = "") -> Page:
        """Go to a page (its URL path), as a click in the navigation or a typed address."""
        self.page_name, self.query = page_name, query
        self._values.clear()
        return await self._rerun([])

    async def click(self, key: str | None = None, *, label: str | None = None,
                    values: dict[str, object] | None = None) -> Page:
        """Click a button (a form's submit button sends the form's ``values`` with it)."""
        button = self._need(key, label=label)
        states = self._states(values or {})
        trigger = WidgetState(id=button.id)
        trigger.trigger_value = True
        return await self._rerun([*states, trigger])

    async def choose(self, key: str, value: object) -> Page:
        """Set a widget (a select box or radio by the option's label, a text box's text)."""
        return await self._rerun(self._states({key: value}))

    def _need(self, key: str | None, *, label: str | None = None) -> Widget:
        widget = self.last.widget(key, label=label)
        if widget is None:
            raise LookupError(f"no widget {key or label!r} on {self.page_name or 'the page'}: "
                              + ", ".join(w.key or w.label for w in self.last.widgets))
        return widget

    def _states(self, values: dict[str, object]) -> list[WidgetState]:
        for key, value in values.items():
            widget = self._need(key)
            state = WidgetState(id=widget.id)
            kind = _WIDGET_VALUE_KINDS.get(widget.kind)
            if kind == "string_array_value":
                state.string_array_value.data.extend(str(v) for v in value)
            elif kind is None:
                raise TypeError(f"setting a {widget.kind} is not supported here")
            else:
                setattr(state, kind, value)
            self._values[widget.id] = state
        # Like the browser: every widget still on the page keeps sending its value.
        present = {w.id for w in self.last.widgets}
        return [s for wid, s in self._values.items() if wid in present]

    async def _rerun(self, widget_states: list[WidgetState]) -> Page:
        if self._ws is None:
            raise ProtocolError("not connected")
        while not self._inbox.empty():          # what arrived while the person read the page
            left = self._inbox.get_nowait()
            if isinstance(left, BaseException):
                raise left
        back = BackMsg()
        state = back.rerun_script
        state.query_string = self.query
        state.page_name = self.page_name
        state.widget_states.widgets.extend(widget_states)
        state.context_info.timezone = "Asia/Shanghai"
        state.context_info.timezone_offset = -480
        state.context_info.locale = "zh-CN"
        state.context_info.url = f"{self.base_url}/{self.page_name}" \
            + (f"?{self.query}" if self.query else "")
        started = time.perf_counter()
        await self._ws.send(back.SerializeToString())
        page, runs = Page(), 0
        deadline = started + self.timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise ProtocolError(f"{self.page_name}: no finished run within {self.timeout:g} s")
            try:
                msg = await asyncio.wait_for(self._inbox.get(), left)
            except asyncio.TimeoutError:
                continue
            if isinstance(msg, BaseException):
                raise msg
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                page, runs = Page(), runs + 1
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                _collect(page, msg.delta.new_element)
            elif kind == "page_not_found":
                page.page_not_found = True
            elif kind == "page_info_changed":
                self.query = msg.page_info_changed.query_string
            elif kind == "script_finished":
                status = msg.script_finished
                if status == ForwardMsg.FINISHED_SUCCESSFULLY:
                    break
                if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    page.exceptions.append("compile error")
                    break
                # FINISHED_EARLY_FOR_RERUN: the next run follows; a fragment's own run
                # (FINISHED_FRAGMENT_RUN_SUCCESSFULLY) is not the page's.
        page.ms = (time.perf_counter() - started) * 1000
        page.runs = runs
        self.last = page
        token = page.session_token()
        if token:
            self.token = token
        return page

    # ------------------------------------------------------------------ signing in
    async def sign_in(self, username: str, password: str) -> Page:
        """The sign-in form as a person fills it; the console hands back the cookie's token
        (kept in ``self.token`` for a reconnect)."""
        if not self.last.widgets:
            await self.open(self.page_name or "")
        user = self.last.widget("login_username")
        pw = self.last.widget("login_password")
        if user is None or pw is None:
            raise LookupError("no sign-in form on the page")
        submit = next((w for w in self.last.widgets if w.kind == "button"
                       and w.proto.is_form_submitter and w.proto.form_id == "login"), None)
        if submit is None:
            raise LookupError("no sign-in button on the page")
        states = []
        for widget, value in ((user, username), (pw, password)):
            s = WidgetState(id=widget.id)
            s.string_value = value
            states.append(s)
        trigger = WidgetState(id=submit.id)
        trigger.trigger_value = True
        return await self._rerun([*states, trigger])
