"""The applet contract: config dataclass, outcomes, and the two phases (enter, resume).

An applet is built once per plan version from its frozen config. On `enter` it either finishes
with an outcome (`Outcome`), asks the caller (`Ask`), ends the call (`End`) or continues in
another plan (`Jump`). When the caller answers (`Keys`, `Speech`, `NoInput`, `DialEnded`,
`QueueLeft`), `resume` decides the same way. Per-call state lives in `ctx.state`, never on the
applet. Applets do not know other applets' ids: the engine maps outcome names to targets.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ivr.engine.actions import Action
from ivr.engine.prompts import loops
from ivr.engine.registry import REGISTRY
from ivr.lang.diagnostics import Path
from ivr.lang.fields import walk_templates
from ivr.lang.templates import Ref, Scope

if TYPE_CHECKING:
    import requests

# Twilio waits 15 s for an answer to a webhook; a turn (everything done for one webhook, from
# its arrival) must answer within this, whatever the plan's web services do.
TURN_BUDGET = 12.0
MIN_CALL_SECONDS = 1.0  # a web call with less than this left is not started


# --- decisions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """Finished. `names` are candidates in order of precedence: the first routed one wins."""

    names: tuple[str, ...]
    actions: tuple[Action, ...] = ()

    def __post_init__(self) -> None:
        if not self.names:
            raise ValueError("an Outcome needs at least one outcome name")

    @classmethod
    def of(cls, name: str, actions: Sequence[Action] = ()) -> Outcome:
        return cls((name,), tuple(actions))


@dataclass(frozen=True)
class Ask:
    """The turn ends here: play `actions`, the last of which waits for the caller."""

    actions: tuple[Action, ...]


@dataclass(frozen=True)
class End:
    """The call ends: play `actions` (they end with a hang-up)."""

    actions: tuple[Action, ...]


@dataclass(frozen=True)
class Jump:
    """Continue in another plan at `applet` (None: that plan's start)."""

    plan: str
    applet: str | None = None


Decision = Outcome | Ask | End | Jump


# --- events from the caller --------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    """Keys the caller pressed (empty: only the finish key, which counts as no input)."""

    digits: str
    finished_on_key: str = ""


@dataclass(frozen=True)
class Speech:
    """Words the caller said, as Twilio's speech recognition heard them (`SpeechResult`), and
    how sure it was (`Confidence`, 0 to 1)."""

    text: str
    confidence: float = 0.0


@dataclass(frozen=True)
class NoInput:
    """The caller pressed nothing before the timeout."""


@dataclass(frozen=True)
class DialEnded:
    """A dialled leg ended: `status` is Twilio's DialCallStatus."""

    status: str
    duration: int = 0


@dataclass(frozen=True)
class QueueLeft:
    """The caller left a queue: `result` is Twilio's QueueResult."""

    result: str


Event = Keys | Speech | NoInput | DialEnded | QueueLeft


# --- what an applet sees at run time ----------------------------------------------------


class Context(Protocol):
    """The per-call view an applet works with (implemented by the engine)."""

    data: MutableMapping[str, Any]
    state: MutableMapping[str, Any]
    http: requests.Session
    log: logging.LoggerAdapter
    currency: str
    timezone: str

    def scope(self, local: dict[str, Any] | None = None) -> Scope: ...

    def now(self) -> datetime: ...

    def secret(self, name: str) -> str | None: ...

    def seconds_left(self) -> float:
        """What is left of this turn's budget (TURN_BUDGET from the webhook's arrival)."""
        ...

    def note_missing(self, what: str) -> None:
        """Record that a data source came out missing (the call record's `missing`, `-v`)."""
        ...

    def observe_service(self, result: str, seconds: float) -> None:
        """Report a web service call this applet made: `2xx`, `4xx`, ... or `failure`."""
        ...


@dataclass(frozen=True)
class PlanInfo:
    """Plan-level settings an applet may need when it is built."""

    plan_id: str
    currency: str = "GBP"
    timezone: str = "UTC"
    language: str = ""  # the speech language a call starts in (defaults.language)
    languages: tuple[str, ...] = ()  # a plan's `languages:`, the first the default
    voices: Mapping[str, str] = field(default_factory=dict)  # language → voice


# --- the base class ----------------------------------------------------------------------


class Applet:
    """Base class: subclasses set `type_name`, `outcomes`, `Config` and `doc`, and register."""

    type_name: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    outcomes: ClassVar[tuple[str, ...]] = ("next",)
    outcome_pattern: ClassVar[re.Pattern[str] | None] = None
    outcome_hint: ClassVar[str] = ""
    accepts_next: ClassVar[bool] = True
    accepts_on: ClassVar[bool] = True
    # True when entering this applet ends the turn (it waits for the caller or a transfer,
    # hangs up, or leaves the plan): the turn budget counts up to here.
    ends_turn: ClassVar[bool] = False
    # True when passing through this applet puts the caller through to a person (an agent,
    # a queue): a call that did not is "contained" (the console's dashboard).
    hands_to_agent: ClassVar[bool] = False
    # How this type is routed, said when a plan gives it a routing key it does not take.
    routing_help: ClassVar[str] = ""
    Config: ClassVar[type]

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if cls.type_name:
            REGISTRY.add(cls)

    def __init__(self, applet_id: str, config: Any, plan: PlanInfo):
        self.id = applet_id
        self.config = config
        self.plan = plan

    # -- load time ------------------------------------------------------------------------

    @classmethod
    def is_terminal(cls) -> bool:
        """True when the applet has no outcomes to route (it ends the call or leaves the plan)."""
        return not cls.outcomes and not cls.accepts_on

    @classmethod
    def reference_notes(cls) -> list[str]:
        """Markdown lines the plan reference adds after this applet's fields (an operator
        table, the types a value may be declared with)."""
        return []

    @classmethod
    def documented_outcomes(cls) -> list[str]:
        """The outcomes as the plan reference lists them."""
        return [*cls.outcomes, *([cls.outcome_hint] if cls.outcome_hint else [])]

    @classmethod
    def on_names_schema(cls) -> dict[str, Any]:
        """JSON Schema of the outcome names `on:` may route (the plan's JSON Schema)."""
        names: dict[str, Any] = {"enum": list(cls.outcomes)}
        if cls.outcome_pattern is not None:
            names = {"anyOf": [names, {"pattern": f"^{cls.outcome_pattern.pattern}$"}]}
        return names

    @classmethod
    def edge_label(cls, config: Any, outcome: str) -> str:
        """How a graph labels the arrow for `outcome` (a router says its condition)."""
        return outcome

    @classmethod
    def may_leave_missing(cls, config: Any) -> set[str]:
        """Data sources this applet may set to null (a web answer without the value)."""
        return set()

    @classmethod
    def declared_types(cls, config: Any) -> dict[str, str | None]:
        """Data sources whose type this applet can declare: name → how it compares (`number`,
        `date`, `boolean`, `string`), or None where the plan did not declare one."""
        return {}

    @classmethod
    def check_types(
        cls, config: Any, types: dict[str, str | None], path: Path, report: Any
    ) -> None:
        """Compare sources in `types` in their declared type where the plan does not say, and
        warn (`report.warning`) where values are compared in the wrong type."""

    @classmethod
    def check_missing(cls, config: Any, missing: set[str], path: Path, report: Any) -> None:
        """Warn (`report.warning(path + (...), message)`) where this applet treats a source
        in `missing` as if it had a value, with no way to tell it was missing."""

    @classmethod
    def plan_reference(cls, config: Any) -> tuple[str, str | None] | None:
        """The (plan, applet or None) this configured applet continues in, for applets that
        leave the plan; checked across the plans folder."""
        return None

    @classmethod
    def outcome_names(cls, config: Any) -> tuple[str, ...]:
        """Every outcome this configured applet can produce (patterns aside)."""
        return cls.outcomes

    @classmethod
    def is_outcome(cls, config: Any, name: str) -> bool:
        if name in cls.outcome_names(config):
            return True
        return bool(cls.outcome_pattern and cls.outcome_pattern.fullmatch(name))

    @classmethod
    def extra_routes(cls, config: Any) -> Iterator[tuple[str, str, Path]]:
        """Routes the config itself declares: (outcome, target id, YAML path below the applet)."""
        return iter(())

    @classmethod
    def sets(cls, config: Any) -> set[str]:
        """Data sources this applet may set."""
        return set()

    @classmethod
    def reads(cls, config: Any) -> Iterator[Ref]:
        """Data source references this applet renders (found once per configuration: the
        checks of a plan ask more than once)."""
        refs = getattr(config, "_template_refs", None)
        if refs is None:
            refs = tuple(ref for template in walk_templates(config) for ref in template.refs)
            if dataclasses.is_dataclass(config):
                refs += loops(config)
            object.__setattr__(config, "_template_refs", refs)
        return iter(refs)

    @classmethod
    def worst_case_seconds(cls, config: Any) -> float:
        """The longest this configured applet can take inside a turn (web calls)."""
        return 0.0

    @classmethod
    def local_names(cls, config: Any) -> set[str]:
        """Names available only inside this applet (e.g. `item` and `index` of for_each)."""
        if dataclasses.is_dataclass(config) and loops(config):
            return {"item", "index"}
        return set()

    # -- run time -------------------------------------------------------------------------

    def agent_number(self) -> str | None:
        """The fixed number this applet transfers callers to, if it is a plain transfer to a
        number; the webhooks dial it when a call's session is lost and this is the fallback."""
        return None

    def enter(self, ctx: Context) -> Decision:
        raise NotImplementedError  # pragma: no cover - every applet implements it

    def resume(self, ctx: Context, event: Event) -> Decision:
        """The caller answered. Applets that never ask are never resumed."""
        raise RuntimeError(f"{self.type_name} applet '{self.id}' does not wait for the caller")
