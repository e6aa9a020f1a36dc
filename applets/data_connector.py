"""data_connector: call a web service and map its answer into data sources (VCC Data Connector).

The HTTP session is injected (`ctx.http`), so tests point it at real servers on loopback.
Nothing sent or received is logged in full: method, URL without query string, status, timing.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from lxml import etree

from ivr.engine.protocol import MIN_CALL_SECONDS, Applet, Context, Decision, Outcome
from ivr.errors import TemplateError
from ivr.lang.diagnostics import Path
from ivr.lang.fields import (
    INVALID,
    Check,
    Choice,
    FieldKind,
    Integer,
    JsonValue,
    MapOf,
    Name,
    Number,
    Struct,
    Text,
    convert_struct,
    spec,
    struct_schema,
)
from ivr.lang.formatters import to_date, to_decimal
from ivr.lang.templates import Template
from ivr.lang.value_types import compares_as

MAX_BODY = 1024 * 1024
VALUE_TYPES = ("text", "number", "amount", "date", "boolean")
VALUE_TYPE_DOCS = {
    "text": "as text (a JSON number or true/false as written)",
    "number": 'a decimal number, kept exact: `42.5`, `"1,200"` → `1200`',
    "amount": 'a number that may carry a currency mark: `"£72.50"`, `"GBP 72.50"` → `72.50`',
    "date": "a date `YYYY-MM-DD` (an ISO date-time gives its date)",
    "boolean": "true/false, yes/no or 1/0",
}
_CURRENCY_MARK = re.compile(r"^\s*([-+]?)\s*(?:[A-Z]{3}\s*|[£$€¥])?")
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}
_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def parse_json_locator(text: str) -> tuple[str | int, ...] | None:
    """`payment.bills[0].amount` → ("payment", "bills", 0, "amount"); `.` → (); None if bad."""
    text = text.strip()
    if text in (".", "$", ""):
        return ()
    text = text.removeprefix("$.").removeprefix("$")
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _STEP.match(text, pos)
        if not m or m.end() == pos:
            return None
        steps.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    return tuple(steps)


@dataclass(frozen=True)
class Locator:
    """Where a value is in the response (a JSON path, an XPath, or a text regex), and the type
    it is declared to have (None: kept as found)."""

    source: str
    type: str | None = None
    json_path: tuple[str | int, ...] | None = None
    xpath: Any = None
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True, kw_only=True)
class TypedLocator:
    path: str = field(metadata=spec(Text(numbers=False), "where the value is (as a locator)"))
    type: str = field(
        metadata=spec(
            Choice(*VALUE_TYPES),
            "the value's type: a value not of it is null, recorded as missing",
        )
    )


class LocatorKind(FieldKind):
    label = "a locator (JSON: a.b[0].c; XML: /a/b; text: . or a regex) or {path, type}"
    struct = TypedLocator
    holds_templates = False

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if isinstance(value, str):
            return Locator(value)
        if not isinstance(value, dict):
            return self.wrong(value, path, check)
        typed = convert_struct(TypedLocator, value, path, check)
        if typed is INVALID:
            return INVALID
        return Locator(typed.path.source, typed.type)

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [{"type": "string"}, struct_schema(TypedLocator)]}


@dataclass(frozen=True, kw_only=True)
class Request:
    method: str = field(
        default="GET",
        metadata=spec(Choice("GET", "POST", "PUT", "PATCH", "DELETE", upper=True), "HTTP method"),
    )
    url: Template = field(metadata=spec(Text(secrets=True, numbers=False), "URL to call"))
    headers: dict[str, Template] = field(
        default_factory=dict, metadata=spec(MapOf(Text(secrets=True)), "request headers")
    )
    query: dict[str, Template] = field(
        default_factory=dict,
        metadata=spec(MapOf(Text(secrets=True)), "query parameters, URL-encoded for you"),
    )
    json: Any = field(default=None, metadata=spec(JsonValue(secrets=True), "JSON body"))
    form: dict[str, Template] | None = field(
        default=None, metadata=spec(MapOf(Text(secrets=True)), "form-encoded body")
    )
    body: Template | None = field(default=None, metadata=spec(Text(secrets=True), "raw text body"))

    def check_config(self, path: Path, check: Check) -> None:
        given = [n for n in ("json", "form", "body") if getattr(self, n) is not None]
        if len(given) > 1:
            check.error(path, f"give one body: json, form or body (found {', '.join(given)})")


@dataclass(frozen=True, kw_only=True)
class Response:
    type: str = field(
        default="json", metadata=spec(Choice("json", "xml", "text"), "how to read the body")
    )
    status_code: str | None = field(
        default=None, metadata=spec(Name(), "data source that receives the HTTP status")
    )
    fields: dict[str, Locator] = field(
        default_factory=dict,
        metadata=spec(
            MapOf(LocatorKind(), Name()),
            "data source ← locator (no match: null, recorded as missing; route: op is_null)",
        ),
    )

    def check_config(self, path: Path, check: Check) -> None:
        for name, loc in self.fields.items():
            where = path + ("fields", name)
            if self.type == "json":
                steps = parse_json_locator(loc.source)
                if steps is None:
                    check.error(where, f"'{loc.source}' is not a JSON locator (a.b[0].c)")
                else:
                    object.__setattr__(loc, "json_path", steps)
            elif self.type == "xml":
                try:
                    object.__setattr__(loc, "xpath", etree.XPath(loc.source))
                except etree.XPathSyntaxError as exc:
                    check.error(where, f"'{loc.source}' is not an XPath: {exc}")
            elif loc.source.strip() not in (".", ""):
                try:
                    object.__setattr__(loc, "regex", re.compile(loc.source))
                except re.error as exc:
                    check.error(where, f"invalid regular expression: {exc}")


@dataclass(frozen=True, kw_only=True)
class DataConnectorConfig:
    request: Request = field(metadata=spec(Struct(Request), "the HTTP request"))
    timeout: Decimal = field(
        default=Decimal(10),
        metadata=spec(
            Number(Decimal("0.1"), placeholders=False),
            "seconds for the whole call, retries included",
        ),
    )
    retries: int = field(
        default=0,
        metadata=spec(
            Integer(0, 5, placeholders=False), "extra tries on connect error, timeout or 5xx"
        ),
    )
    response: Response = field(
        default_factory=Response, metadata=spec(Struct(Response), "how to read the answer")
    )


def _a(kind: str | None) -> str:
    return f"an {kind}" if kind in ("amount",) else f"a {kind}"


class Failure(Exception):
    """No usable answer; the message goes to LastError."""


def _xml_value(node: Any) -> Any:
    if isinstance(node, etree._Element):
        children = list(node)
        if children:
            return {
                child.tag: _xml_value(child) for child in children if isinstance(child.tag, str)
            }
        return (node.text or "").strip()
    return str(node)


def locate(kind: str, loc: Locator, parsed: Any, body: str) -> Any:
    if kind == "json":
        value = parsed
        for step in loc.json_path or ():
            if isinstance(value, dict) and isinstance(step, str):
                value = value.get(step)
            elif isinstance(value, list) and isinstance(step, int) and step < len(value):
                value = value[step]
            else:
                return None
        return value
    if kind == "xml":
        result = loc.xpath(parsed) if parsed is not None else None
        if isinstance(result, list):
            values = [_xml_value(r) for r in result]
            return None if not values else values[0] if len(values) == 1 else values
        return None if result is None else str(result)
    if loc.regex is None:
        return body
    m = loc.regex.search(body)
    return None if m is None else (m.group(1) if m.groups() else m.group(0))


def typed(value: Any, kind: str | None) -> Any:
    """`value` as the declared type, kept JSON-safe (numbers and dates as canonical text), or
    None when it is not of that type."""
    if kind is None or value is None:
        return value
    if isinstance(value, (dict, list)):
        return None
    if kind == "text":
        return str(value).lower() if isinstance(value, bool) else str(value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        return True if word in _TRUE else False if word in _FALSE else None
    if kind == "date":
        day = to_date(value)
        return None if day is None else day.isoformat()
    if isinstance(value, bool):
        return None
    if kind == "amount" and isinstance(value, str):  # "£72.50", "GBP 72.50", "-£5"
        value = _CURRENCY_MARK.sub(r"\1", value, count=1)
    number = to_decimal(value)
    return None if number is None else format(number, "f")


_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class DataConnectorApplet(Applet):
    type_name = "data_connector"
    doc = (
        "Call a web service (VCC Data Connector): next when it answers, failure when it "
        "does not; status_NNN / status_Nxx routes take precedence over next."
    )
    outcomes = ("next", "failure")
    outcome_pattern = re.compile(r"status_[1-5](\d\d|xx)")
    outcome_hint = "status_NNN or status_Nxx"
    Config = DataConnectorConfig

    @classmethod
    def may_leave_missing(cls, config: DataConnectorConfig) -> set[str]:
        return set(config.response.fields)

    @classmethod
    def reference_notes(cls) -> list[str]:
        rows = [
            f"| `{name}` | {VALUE_TYPE_DOCS[name]} | `{compares_as(name)}` |"
            for name in VALUE_TYPES
        ]
        return [
            "A field may be declared typed: `Balance: {path: account.total_due, type: amount}`.",
            "A value not of its type is null and recorded as missing (`Balance (not an amount at",
            "account.total_due)`), and a `data_router` rule on it without `type:` compares in",
            "the declared type.",
            "",
            "| type | a value is | a router compares it as |",
            "|---|---|---|",
            *rows,
            "",
        ]

    @classmethod
    def declared_types(cls, config: DataConnectorConfig) -> dict[str, str | None]:
        return {
            name: None if loc.type is None else compares_as(loc.type)
            for name, loc in config.response.fields.items()
        }

    @classmethod
    def sets(cls, config: DataConnectorConfig) -> set[str]:
        names = set(config.response.fields) | {"LastError"}
        if config.response.status_code:
            names.add(config.response.status_code)
        return names

    def _loggable_url(self, url: str) -> str:
        if self.config.request.url.secrets:
            return self.config.request.url.source.split("?")[0]
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"

    def enter(self, ctx: Context) -> Decision:
        started = time.monotonic()
        try:
            status, raw, charset = self._call(ctx)
        except Failure as exc:
            ctx.observe_service("failure", time.monotonic() - started)
            ctx.data["LastError"] = str(exc)
            ctx.log.warning("data_connector failed: %s", exc)
            return Outcome.of("failure")
        ctx.observe_service(f"{status // 100}xx", time.monotonic() - started)
        try:
            body = raw.decode(charset, errors="replace")
            parsed = self._parse(raw, body, ok=200 <= status < 300)
        except Failure as exc:
            ctx.data["LastError"] = str(exc)
            ctx.log.warning("data_connector failed: %s", exc)
            return Outcome.of("failure")
        response = self.config.response
        for name, loc in response.fields.items():
            found = locate(response.type, loc, parsed, body)
            value = typed(found, loc.type)
            ctx.data[name] = value
            if found is None:  # visible, and routable with op: is_null
                ctx.note_missing(f"{name} (no match for {loc.source})")
            elif value is None:
                ctx.note_missing(f"{name} (not {_a(loc.type)} at {loc.source})")
        if response.status_code:
            ctx.data[response.status_code] = status
        ctx.data["LastError"] = ""
        return Outcome((f"status_{status}", f"status_{status // 100}xx", "next"))

    def _render(self, ctx: Context) -> dict[str, Any]:
        req = self.config.request
        scope = ctx.scope()

        def deep(value: Any) -> Any:
            if isinstance(value, Template):
                return value.render(scope)
            if isinstance(value, dict):
                return {k: deep(v) for k, v in value.items()}
            if isinstance(value, list):
                return [deep(v) for v in value]
            return value

        try:
            kwargs: dict[str, Any] = {
                "method": req.method,
                "url": req.url.render(scope),
                "headers": {k: v.render(scope) for k, v in req.headers.items()},
                "params": {k: v.render(scope) for k, v in req.query.items()} or None,
            }
            if req.json is not None:
                kwargs["data"] = json_body(deep(req.json))
                kwargs["headers"].setdefault("Content-Type", "application/json")
            elif req.form is not None:
                kwargs["data"] = {k: v.render(scope) for k, v in req.form.items()}
            elif req.body is not None:
                kwargs["data"] = req.body.render(scope).encode()
        except TemplateError as exc:
            raise Failure(str(exc)) from None
        return kwargs

    @classmethod
    def worst_case_seconds(cls, config: DataConnectorConfig) -> float:
        return float(config.timeout)

    def _call(self, ctx: Context) -> tuple[int, bytes, str]:
        """Send the request (with retries); (status, body, charset) or Failure.

        `timeout` covers every attempt together, cut to what is left of the turn's budget
        (with under MIN_CALL_SECONDS left the service is not called at all). The time left is
        shared among the attempts left, so a timed-out attempt leaves room for a retry."""
        kwargs = self._render(ctx)
        where = self._loggable_url(kwargs["url"])
        left = ctx.seconds_left()
        if left < MIN_CALL_SECONDS:
            raise Failure(f"not called: {max(left, 0):.1f}s left of the turn's budget for {where}")
        allowed = min(float(self.config.timeout), left)
        overall = time.monotonic() + allowed
        attempts = self.config.retries + 1
        error = "no attempt made"
        for attempt in range(attempts):
            remaining = overall - time.monotonic()
            if remaining <= 0:
                break
            remaining /= attempts - attempt
            deadline = time.monotonic() + remaining
            started = time.monotonic()
            try:
                with ctx.http.request(
                    timeout=remaining, stream=True, allow_redirects=True, **kwargs
                ) as resp:
                    body = _read(resp, deadline)
                    status = resp.status_code
                    charset = _charset(resp.headers.get("Content-Type", ""))
            except requests.Timeout:
                error = f"timeout after {round(remaining, 1):g}s calling {where}"
            except requests.ConnectionError as exc:
                error = f"cannot connect to {where}: {_reason(exc)}"
            except requests.RequestException as exc:
                raise Failure(f"request to {where} failed: {_reason(exc)}") from None
            else:
                ms = (time.monotonic() - started) * 1000
                ctx.log.info(
                    "data_connector %s %s -> %d in %.0f ms (attempt %d)",
                    kwargs["method"],
                    where,
                    status,
                    ms,
                    attempt + 1,
                )
                if status < 500 or attempt == self.config.retries:
                    return status, body, charset
                error = f"{where} answered {status}"
                continue
            ctx.log.info(
                "data_connector %s %s: %s (attempt %d)", kwargs["method"], where, error, attempt + 1
            )
        raise Failure(error)

    def _parse(self, raw: bytes, text: str, *, ok: bool) -> Any:
        kind = self.config.response.type
        if kind == "text" or not raw.strip():
            return None
        try:
            if kind == "json":
                return json.loads(text, parse_float=str)
            return etree.fromstring(raw, parser=_XML_PARSER)
        except (ValueError, etree.XMLSyntaxError) as exc:
            if ok:
                raise Failure(f"response is not valid {kind.upper()}: {_short(exc)}") from None
            return None


def json_body(value: Any) -> bytes:
    """JSON text with decimals written exactly (never through float)."""
    marks: dict[str, str] = {}

    def swap(v: Any) -> Any:
        if isinstance(v, Decimal):
            mark = f"\u0000dec{len(marks)}\u0000"
            marks[json.dumps(mark)] = str(v)
            return mark
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value), separators=(",", ":"))
    for mark, number in marks.items():
        text = text.replace(mark, number)
    return text.encode()


def _charset(content_type: str) -> str:
    """The charset the Content-Type names, else UTF-8 (not ISO-8859-1 for text/*)."""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            name = value.strip("\"' ")
            try:
                "".encode(name)
                return name
            except LookupError:
                break
    return "utf-8"


def _read(resp: requests.Response, deadline: float) -> bytes:
    """Read the body as it arrives, checking the deadline after every piece (a body that
    trickles in still ends at the timeout), and refusing more than MAX_BODY."""
    raw = resp.raw
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise requests.Timeout()
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        if sock is not None:
            sock.settimeout(remaining)
        try:
            chunk = raw.read1(65536) if hasattr(raw, "read1") else raw.read(65536)
        except (TimeoutError, urllib3.exceptions.ReadTimeoutError):
            raise requests.Timeout() from None
        except urllib3.exceptions.ProtocolError as exc:
            raise requests.ConnectionError(str(exc)) from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > MAX_BODY:
            raise Failure("response body larger than 1 MiB")
        chunks.append(chunk)


class _NoQueryStrings(logging.Filter):
    """The HTTP library logs request lines at DEBUG; keep their query strings out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                a.split("?")[0] if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_NoQueryStrings())


_REASONS = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "unknown host"),
    ("Temporary failure in name resolution", "unknown host"),
    ("nodename nor servname", "unknown host"),
    ("certificate verify failed", "TLS certificate not trusted"),
    ("SSLError", "TLS error"),
    ("Network is unreachable", "network unreachable"),
    ("No route to host", "no route to host"),
    ("Connection reset", "connection reset"),
    ("RemoteDisconnected", "the service closed the connection"),
    ("timed out", "timed out"),
)


def _reason(exc: Exception) -> str:
    """A fixed, short reason for a failed request. Never the exception's own text: the HTTP
    library puts the full URL, query string (secrets, the caller's number) included, in it."""
    text = f"{type(exc).__name__} {exc!s} {exc.__context__!s}"
    for marker, reason in _REASONS:
        if marker in text:
            return reason
    return type(exc).__name__


def _short(exc: Any) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
