"""Property-based fuzzing of the PCI bridge's session API: no request makes it answer 5xx, and
every answer is the documented one (status, JSON, Session or Error schema).

Two fuzzers: schemathesis, driven by the OpenAPI document the bridge serves, and a hypothesis
one that sends sequences of near-valid and arbitrary requests (bodies, content types,
Idempotency-Keys, ids, CLIDs, clock jumps) to every operation, on memory and a real Redis."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pci_bridge.app import Bridge
from pci_bridge.config import BridgeConfig
from pci_bridge.state import MemoryState, RedisState
from tests.conftest import Clock, keyed_bridge_app
from tests.test_pci_api import conforms


def fuzz(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


POOL = ("+442079460100", "+442079460101", "+442079460102")


@pytest.fixture
def make_app(tmp_path: Path, clock: Clock) -> Iterator[Callable[..., Any]]:
    bridges: list[Bridge] = []

    def build(state: Any = None) -> Any:
        config = BridgeConfig(database_url=f"sqlite:///{tmp_path}/pci.sqlite3", clid_pool=POOL)
        app = keyed_bridge_app(
            config, clock=clock, state=state if state is not None else MemoryState()
        )
        bridges.append(app.extensions["pci_bridge"])
        return app

    yield build
    for bridge in bridges:
        bridge.close()


# --- schemathesis, from the served OpenAPI document -----------------------------------------


def test_schemathesis_finds_no_server_error(make_app: Callable[..., Any]) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    import schemathesis.checks as checks

    app = make_app()
    schema = schemathesis.openapi.from_wsgi("/pci/v1/openapi.json", app)
    selected = [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 6
    for operation in operations:
        definition = operation.definition.raw
        only_path = "requestBody" not in definition and all(
            p["in"] == "path" for p in definition.get("parameters", [])
        )
        # negative data for a path-only operation cannot be generated (a path is text)
        modes = [m for m in schemathesis.GenerationMode if m.is_positive or not only_path]
        for mode in modes:

            @fuzz(30)
            @given(case=operation.as_strategy(mode))
            def run(case: Any) -> None:
                response = case.call()
                case.validate_response(response, checks=selected)
                if 400 <= response.status_code < 500:
                    assert "error" in response.json(), (case.as_curl_command(), response.text)

            run()


# --- hypothesis: sequences of near-valid and arbitrary requests -------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
amounts = (
    st.sampled_from(
        [
            "42.50",
            "42.5",
            "0.01",
            "1000000",
            "1000000.01",
            "0",
            "-1",
            "1e3",
            "1E+2",
            "NaN",
            "sNaN",
            "Infinity",
            "-0",
            "0.001",
            "1_000",
            " 7 ",
            "１２",
            "4.2e-1",
            "9" * 60,
        ]
    )
    | st.decimals().map(str)
    | st.text(max_size=12)
    | json_values
)
currencies = st.sampled_from(["GBP", "gbp", "EUR", "USD", "XYZ", ""]) | json_values
clids = (
    st.sampled_from(
        ["+447700900123", "+447700900456", "anonymous", "", "unknown", POOL[0], " +447700900123 "]
    )
    | st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)
    | st.text(max_size=20)
)
tokens = (
    st.sampled_from(["<success>", "<insufficient_funds>", "<processing_error>"])
    | st.text(max_size=70)
    | json_values
)
wild = st.fixed_dictionaries(
    {},
    optional={
        "amount": amounts,
        "currency": currencies,
        "reference": st.text(max_size=70) | json_values,
        "description": st.text(max_size=210) | json_values,
        "caller_clid": clids | json_values,
        "card_token": tokens,
        "save_card": st.booleans() | json_values,
        "max_cards": st.integers(min_value=-1, max_value=5) | json_values,
    },
)
valid = st.fixed_dictionaries(
    {
        "amount": st.sampled_from(["42.50", "0.01", "1000000", "7"]),
        "currency": st.sampled_from(["GBP", "EUR", "usd"]),
        "reference": st.text(min_size=1, max_size=64).filter(str.strip),
    },
    optional={
        "caller_clid": st.sampled_from(
            ["+447700900123", "+447700900456", "anonymous", "", POOL[0]]
        ),
        "description": st.text(max_size=200),
        "save_card": st.booleans(),
        "max_cards": st.integers(min_value=1, max_value=3),
        "card_token": st.sampled_from(
            ["<success>", "<insufficient_funds>", "<processing_error>", "tok_unknown"]
        ),
    },
)
extra = st.dictionaries(st.text(max_size=10), json_values, max_size=2)


def merged(*parts: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(*parts).map(lambda dicts: {k: v for d in dicts for k, v in d.items()})


# mostly valid (sessions get made, charged, cancelled, expired), valid with some fields wild,
# wild fields with unknown ones, any JSON at all, and bytes
bodies = st.one_of(
    valid,
    valid,
    valid,
    merged(valid, wild),
    merged(wild, extra),
    json_values,
    st.binary(max_size=40),
)
content_types = st.sampled_from(
    ["application/json"] * 5
    + ["application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded", ""]
)
header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=300
)
keys = st.none() | st.sampled_from(["k1", "k2", "k3", "", " "]) | header_text
# Ids that route to the operation: no `/` and not empty (routing errors, which answer HTML,
# are covered by test_pci_api.py::test_routing_errors_under_the_api_answer_json).
ids = st.integers(min_value=0, max_value=50) | st.text(
    st.characters(exclude_characters="/", exclude_categories=("Cs",)), min_size=1, max_size=40
)

create = st.tuples(st.just("create"), bodies, content_types, keys)
read = st.tuples(st.sampled_from(["get", "cancel"]), ids)
by_clid = st.tuples(st.just("by_clid"), st.none() | clids)
advance = st.tuples(
    st.just("advance"), st.integers(min_value=0, max_value=120) | st.sampled_from([900, 901, 2701])
)
steps = st.lists(create | read | by_clid | advance, min_size=1, max_size=6)


class Fuzzer:
    """Runs fuzz steps against one app and checks every answer with `conforms`."""

    def __init__(self, app: Any, clock: Clock):
        self.client = app.test_client()
        self.bridge: Bridge = app.extensions["pci_bridge"]
        self.clock = clock
        self.ids: list[str] = []
        self.tokens = {
            b: self.bridge.gateway.mint_token(  # type: ignore[attr-defined]
                brand="mastercard", last4="4444", exp_month=1, exp_year=2031, behaviour=b
            )
            for b in ("success", "insufficient_funds", "processing_error")
        }

    def check(self, response: Any, method: str, template: str) -> Any:
        assert response.status_code < 500, (method, template, response.get_data()[:300])
        return conforms(response, method, template)

    def run(self, step: tuple[Any, ...]) -> None:
        kind = step[0]
        if kind == "advance":
            self.clock.advance(seconds=step[1])
            return
        if kind == "create":
            _, body, content_type, key = step
            if isinstance(body, dict) and isinstance(body.get("card_token"), str):
                name = body["card_token"].strip("<>")
                body = {**body, "card_token": self.tokens.get(name, body["card_token"])}
            data = body if isinstance(body, bytes) else json.dumps(body)
            headers = {"Idempotency-Key": key} if key is not None else {}
            response = self.client.post(
                "/pci/v1/sessions", data=data, headers=headers, content_type=content_type
            )
            answer = self.check(response, "post", "/pci/v1/sessions")
            if response.status_code in (200, 201):
                self.ids.append(answer["session_id"])
        elif kind == "by_clid":
            query = {"clid": step[1]} if step[1] is not None else {}
            response = self.client.get("/pci/v1/sessions", query_string=query)
            self.check(response, "get", "/pci/v1/sessions")
        else:
            session_id = step[1]
            if isinstance(session_id, int):
                session_id = self.ids[session_id % len(self.ids)] if self.ids else "ps_none"
            path = f"/pci/v1/sessions/{quote(session_id, safe='')}"
            if kind == "get":
                self.check(self.client.get(path), "get", "/pci/v1/sessions/{session_id}")
            else:
                self.check(
                    self.client.post(path + "/cancel"),
                    "post",
                    "/pci/v1/sessions/{session_id}/cancel",
                )


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_random_requests_get_documented_answers(
    make_app: Callable[..., Any], clock: Clock, request: pytest.FixtureRequest, kind: str
) -> None:
    state: Any = MemoryState()
    if kind == "redis":
        state = RedisState.from_url(request.getfixturevalue("redis_url"))
        state.client.flushdb()
    try:
        fuzzer = Fuzzer(make_app(state), clock)

        @fuzz(150 if kind == "memory" else 80)
        @given(steps=steps)
        def run(steps: list[tuple[Any, ...]]) -> None:
            for step in steps:
                fuzzer.run(step)

        run()
    finally:
        if isinstance(state, RedisState):
            state.client.close()
