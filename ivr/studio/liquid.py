"""Studio's Liquid (`{{widgets.menu.Digits}}`, `{{flow.variables.x}}`) as plan placeholders.

Each Studio value a plan can read becomes a data source: a widget's output is named after
the applet the widget became (`{{widgets.main_menu.Digits}}` → `$(main_menu_Digits)`), a flow
variable keeps its name, the call's own fields are the built-in sources. What has no
equivalent (a Liquid tag, a filter with no formatter, a field Twilio gives and a plan does not)
is a problem, named so the report can say what to change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ivr.errors import TemplateError
from ivr.lang.model import BUILTIN_SOURCES
from ivr.lang.templates import NAME_RE, parse_ref
from ivr.studio.flow import Flow

_OUTPUT = re.compile(r"\{\{(.*?)\}\}", re.S)
_TAG = re.compile(r"\{%.*?%\}", re.S)
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+|\[[0-9]+\])*")

CALL_FIELDS = {
    "From": "CLID",
    "Caller": "CLID",
    "To": "DDI",
    "Called": "DDI",
    "CallSid": "CallSid",
}
FILTERS = {"upcase": "upper", "downcase": "lower", "url_encode": "urlencode"}
# What each kind of widget gives later widgets (Studio's names), and the data source part.
OUTPUTS = {
    "gather-input-on-call": ("Digits",),
    "make-http-request": ("parsed", "body", "status_code"),
    "capture-payments": (
        "PaymentConfirmationCode",
        "PaymentCardNumber",
        "PaymentCardType",
        "PaymentError",
        "Result",
        "PaymentToken",
    ),
}
NOT_KEPT = {
    "SpeechResult": "Studio's speech results are not imported (a plan's menu matches words "
    "to options itself)",
    "Confidence": "Studio's speech results are not imported (a plan's menu matches words "
    "to options itself)",
    "DialCallStatus": "a transfer's end status is not kept by the transfer applet",
    "content_type": "a web service's content type is not kept",
}


def snake(name: str) -> str:
    """A Studio widget name as an applet id: `MainMenu` → `main_menu`."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    text = re.sub(r"[^a-z0-9_]+", "_", text).strip("_")
    text = re.sub(r"_+", "_", text)
    return text if text[:1].isalpha() else f"w_{text}" if text else "widget"


def variable_name(key: str) -> str:
    """A Studio flow variable as a data source name (before clashes are resolved)."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", key.encode("ascii", "ignore").decode()).strip("_")
    name = name or "variable"
    if not name[0].isalpha():
        name = f"v_{name}"
    return name


# Data sources the engine or every plan sets itself: a flow variable never takes these names.
ENGINE_SOURCES = frozenset(BUILTIN_SOURCES) | {"LastError", "PciUrl", "StudioWidgetNotImported"}
# What the importer names after an applet for each kind of widget, beyond OUTPUTS.
INTERNAL = {"capture-payments": ("SessionId", "PciNumber", "PciClid")}


@dataclass(frozen=True)
class Mapped:
    """A Studio text as plan text, with what could not be carried over."""

    text: str
    problems: tuple[str, ...] = ()
    source: str | None = None  # the data source path, when the text is one plain reference

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Names:
    """Studio names → plan names for one flow; `used` holds the widget outputs read."""

    flow: Flow
    applet_ids: dict[str, str]
    used: set[tuple[str, str]] = field(default_factory=set)
    variables: dict[str, str] = field(default_factory=dict)  # Studio key → data source
    renamed: list[str] = field(default_factory=list)  # what the report says about names
    reserved: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.reserved |= ENGINE_SOURCES
        for name, widget in self.flow.widgets.items():
            applet = self.applet_ids[name]
            for part in OUTPUTS.get(widget.type, ()) + INTERNAL.get(widget.type, ()):
                self.reserved.add(f"{applet}_{part}")
            if widget.type == "split-based-on":
                self.reserved.update(
                    [f"{applet}_input"] + [f"{applet}_input_{n}" for n in range(2, 10)]
                )

    def output(self, widget: str, part: str) -> str:
        return f"{self.applet_ids[widget]}_{part}"

    def variable(self, key: str) -> str:
        """The data source of the Studio variable `key`: its own name where it is free."""
        if key in self.variables:
            return self.variables[key]
        wanted = variable_name(key)
        name, n = wanted, 1
        while name in self.reserved:
            name = f"{wanted}_var" + (str(n) if n > 1 else "")
            n += 1
        self.reserved.add(name)
        self.variables[key] = name
        if name != key:
            taken = "" if wanted == key else f" ('{key}' is not a data source name)"
            self.renamed.append(f"flow variable '{key}' is the data source {name}{taken}")
        return name

    def reference(self, path: str) -> tuple[str | None, str | None]:
        """(data source path, None) or (None, why it has no equivalent)."""
        source, problem = self._reference(path)
        if source is not None and not _readable(source):
            return None, (
                f"'{path}': a key with characters other than letters, digits and _ cannot be "
                "read by a placeholder"
            )
        return source, problem

    def _reference(self, path: str) -> tuple[str | None, str | None]:
        head, _, rest = path.partition(".")
        if head == "trigger":
            kind, _, name = rest.partition(".")
            if kind == "parent" and name.startswith("parameters.") and len(name) > 11:
                var, sep, tail = _split_first(name[11:])  # a subflow's parameters
                return self.variable(var) + sep + tail, None
            if kind == "call" and name in CALL_FIELDS:
                return CALL_FIELDS[name], None
            if kind == "call":
                return None, f"'{path}': Twilio's call detail {name or '?'} is not passed to plans"
            return None, f"'{path}': not a voice call trigger field"
        if head in ("flow", "contact"):
            kind, _, name = rest.partition(".")
            if head == "flow" and kind in ("variables", "data") and name:
                var, sep, tail = _split_first(name)
                return self.variable(var) + sep + tail, None
            if kind == "channel" and name == "address":  # the caller's, or the flow's number
                return ("CLID" if head == "contact" else "DDI"), None
            return None, f"'{path}': no data source holds this"
        if head == "widgets":
            return self._widget_reference(path, rest)
        return None, f"'{path}': unknown Liquid variable"

    def _widget_reference(self, path: str, rest: str) -> tuple[str | None, str | None]:
        widget, _, part_path = rest.partition(".")
        target = self.flow.widgets.get(widget)
        if target is None or widget not in self.applet_ids:
            return None, f"'{path}': no widget '{widget}' on the call's path"
        part, sep, tail = _split_first(part_path)
        if part in OUTPUTS.get(target.type, ()):
            self.used.add((widget, part))
            return self.output(widget, part) + sep + tail, None
        if part in NOT_KEPT:
            return None, f"'{path}': {NOT_KEPT[part]}"
        return None, f"'{path}': a {target.type} widget gives no '{part}' here"

    def text(self, value: Any, *, regex: bool = False) -> Mapped:
        """Studio text (with Liquid) as plan text; in a regular expression `#(` is written
        `[#](`, which matches the same (elsewhere it becomes `# (`: `#(` starts a secret)."""
        if value is None:
            return Mapped("")
        source = str(value)
        problems: list[str] = []
        tags = _TAG.findall(source)
        if tags:
            more = f" and {len(tags) - 1} more" if len(tags) > 1 else ""
            problems.append(
                f"Liquid tag '{tags[0][:40]}'{more}: no equivalent (route with a split instead)"
            )
        source = _TAG.sub("", source)
        out: list[str] = []
        pos = 0
        only: str | None = None
        outputs = list(_OUTPUT.finditer(source))
        for m in outputs:
            out.append(_literal(source[pos : m.start()], regex))
            ref, problem = self._output(m.group(1))
            if problem:
                problems.append(problem)
            else:
                out.append(ref or "")
            pos = m.end()
        out.append(_literal(source[pos:], regex))
        text = "".join(out)
        if len(outputs) == 1 and source.strip() == outputs[0].group(0) and not problems:
            inner = text.strip()[2:-1]
            only = inner if ":" not in inner else None
        return Mapped(text, tuple(problems), only)

    def _output(self, body: str) -> tuple[str | None, str | None]:
        expr, *filters = (part.strip() for part in body.split("|"))
        if not _PATH.fullmatch(expr):
            return None, f"Liquid expression '{{{{{body.strip()}}}}}' (only variables map)"
        source, problem = self.reference(expr)
        if problem:
            return None, problem
        formatters = []
        for f in filters:
            name = f.split(":", 1)[0].strip()
            if name not in FILTERS or ":" in f:
                return None, f"Liquid filter '{name}' in '{{{{{body.strip()}}}}}' has no formatter"
            formatters.append(FILTERS[name])
        if len(formatters) > 1:
            return None, f"'{{{{{body.strip()}}}}}': more than one filter (one formatter only)"
        suffix = f":{formatters[0]}" if formatters else ""
        return f"$({source}{suffix})", None


def _readable(source: str) -> bool:
    """Whether a placeholder can read `source` (the template language's own grammar)."""
    try:
        parse_ref(source)
    except TemplateError:
        return False
    return True


def _split_first(path: str) -> tuple[str, str, str]:
    """`a.b[0]` → (`a`, `.`, `b[0]`); `a[0].b` → (`a`, ``, `[0].b`)."""
    m = re.match(r"[^.\[]+", path)
    head = m.group(0) if m else path
    tail = path[len(head) :]
    if tail.startswith("."):
        return head, ".", tail[1:]
    return head, "", tail


def _literal(text: str, regex: bool = False) -> str:
    return text.replace("$", "$$").replace("#(", "[#](" if regex else "# (")


def plain(text: str) -> str:
    """Text with no Liquid (a name, a description) as plan text."""
    return _literal(text)


def liquid_paths(value: Any) -> Iterator[str]:
    """Every `{{ path ... }}` variable in a properties value (strings inside lists and maps)."""
    if isinstance(value, str):
        for m in _OUTPUT.finditer(value):
            expr = m.group(1).split("|")[0].strip()
            if _PATH.fullmatch(expr):
                yield expr
    elif isinstance(value, dict):
        for v in value.values():
            yield from liquid_paths(v)
    elif isinstance(value, list):
        for v in value:
            yield from liquid_paths(v)


def is_name(text: str) -> bool:
    return bool(NAME_RE.fullmatch(text))
