"""Studio's make-http-request and capture-payments as data connectors (and, for payments, the
PCI bridge transfer: a session, the transfer, the result read back — the VCC way)."""

from __future__ import annotations

import json
from typing import Any

from ivr.studio.build import Build, Inline
from ivr.studio.flow import Widget

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def http_request(build: Build, widget: Widget) -> None:
    props = widget.properties
    problems: list[str] = []
    method = str(props.get("method", "GET")).upper()
    if method not in METHODS:
        problems.append(f"properties.method: {method} is not one of {', '.join(METHODS)}")
    url = build.text("url", props.get("url"), problems).strip()
    if not url:
        problems.append("properties.url: no URL")
    request: dict[str, Any] = {"method": method, "url": url}
    params: dict[str, str] = {}
    parameters = props.get("parameters") or []
    if not isinstance(parameters, list):
        problems.append("properties.parameters: expected a list of {key, value}")
        parameters = []
    for i, item in enumerate(parameters):
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            params[item["key"]] = build.text(f"parameters[{i}]", item.get("value"), problems)
    content_type = str(props.get("content_type", "")).lower()
    body = props.get("body")
    if body is not None and not isinstance(body, str):
        problems.append("properties.body: expected text")
        body = None
    has_body = isinstance(body, str) and bool(body.strip())
    if method == "GET" and params:
        request["query"] = params
    elif "json" in content_type and has_body:
        request.update(_json_body(build, widget, str(body), problems))
    elif params:
        request["form"] = params
    elif has_body:
        request["body"] = build.text("body", body, problems)
        if content_type:
            request["headers"] = {"Content-Type": props["content_type"]}
    if params and has_body and method != "GET":
        dropped = "parameters" if "json" in content_type else "body"
        build.note(widget, f"properties.{dropped} is not sent (the request sends one of the two)")
    if props.get("add_twilio_auth") in (True, "true"):
        problems.append(
            "properties.add_twilio_auth: Twilio's credentials are not sent by call plans "
            "(give the service a token of its own: a secret in a header)"
        )
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    used = {part for name, part in build.names.used if name == widget.name}
    response: dict[str, Any] = {"type": "json" if "parsed" in used else "text"}
    fields = {}
    if "parsed" in used:
        fields[build.names.output(widget.name, "parsed")] = "."
        build.note(
            widget,
            "its answer is read as JSON: a 2xx answer that is not JSON goes to "
            f"'{widget.target('failed')}' (Studio: success, with nothing parsed)",
        )
    if "body" in used:
        if "parsed" in used:
            build.note(widget, "its body is read as JSON (parsed); the raw body is not kept")
        else:
            fields[build.names.output(widget.name, "body")] = "."
    if fields:
        response["fields"] = fields
    if "status_code" in used:
        response["status_code"] = build.names.output(widget.name, "status_code")
    failed = build.event(widget, "failed")
    out: dict[str, Any] = {"type": "data_connector", "request": request}
    if response != {"type": "text"}:
        out["response"] = response
    out["next"] = failed  # an answer that is not 2xx is Studio's `failed`
    out["on"] = {"status_2xx": build.event(widget, "success"), "failure": failed}
    build.add(build.id_of(widget), out)


def _json_body(build: Build, widget: Widget, body: str, problems: list[str]) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except RecursionError:
        problems.append("properties.body: JSON nested too deeply")
        return {}
    except json.JSONDecodeError:
        # Liquid outside a JSON string (`{"amount": {{flow.variables.amount}}}`): sent as text.
        return {
            "body": build.text("body", body, problems),
            "headers": {"Content-Type": "application/json"},
        }
    return {"json": _walk(build, widget, value, problems)}


def _walk(build: Build, widget: Widget, value: Any, problems: list[str]) -> Any:
    if isinstance(value, str):
        return build.text("body", value, problems)
    if isinstance(value, dict):
        return {k: _walk(build, widget, v, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(build, widget, v, problems) for v in value]
    return value


# The bridge's result → the Studio capture-payments event a flow routes.
PAYMENT_EVENTS = (
    ("success", "success"),
    ("declined", "maxFailedAttempts"),
    ("too_many_attempts", "maxFailedAttempts"),
    ("cancelled", "payInterrupted"),
    ("abandoned", "hangup"),
)
RESULT_FIELDS = {
    "Result": "result.outcome",
    "PaymentConfirmationCode": "result.confirmation_code",
    "PaymentCardNumber": "result.card.last4",
    "PaymentCardType": "result.card.brand",
    "PaymentError": "result.gateway.message",
    "PaymentToken": "result.card_token",
}


def capture_payments(build: Build, widget: Widget) -> None:
    props = widget.properties
    problems: list[str] = []
    amount = build.text("payment_amount", props.get("payment_amount"), problems).strip()
    if not amount:
        problems.append("properties.payment_amount: no amount")
    currency = str(props.get("currency") or "usd").upper()
    method = str(props.get("payment_method") or "CREDIT_CARD").upper().replace("-", "_")
    if method != "CREDIT_CARD":
        problems.append(f"properties.payment_method: {props['payment_method']} (cards only)")
    description = build.text("description", props.get("description"), problems)
    if problems:
        return build.placeholder(widget, "; ".join(problems))
    for difference in _bridge_differences(props):
        build.note(widget, difference)
    build.data.setdefault("PciUrl", build.options.pci_url)
    if "PCI_API_KEY" not in build.secrets:
        build.secrets.append("PCI_API_KEY")
    entry = build.id_of(widget)
    out = build.names.output
    name = widget.name
    provider_error = build.event(widget, "providerError")
    # The bridge refusing the session's details (an amount it cannot take): Studio's
    # validationError, where the flow routes it.
    invalid = (
        build.route(widget.target("validationError"))
        if widget.routed("validationError")
        else provider_error
    )
    transfer, result, route = (
        build.new_id(f"{entry}_{s}") for s in ("transfer", "result", "route")
    )
    session: dict[str, Any] = {
        "amount": amount,
        "currency": currency,
        "reference": "$(CallSid)",
        "caller_clid": "$(CLID)",
    }
    if description.strip():
        session["description"] = description
    if props.get("payment_token_type") == "reusable":
        session["save_card"] = True
    build.add(
        entry,
        {
            "type": "data_connector",
            "description": f"Studio capture-payments '{name}': a payment session on the bridge",
            "timeout": 4,
            "request": {
                "method": "POST",
                "url": "$(PciUrl)/sessions",
                "headers": {
                    "Authorization": "Bearer #(PCI_API_KEY)",
                    # a new session each time the flow comes back here (after the last one)
                    "Idempotency-Key": f"$(CallSid)-{entry}-$({out(name, 'SessionId')})",
                },
                "json": session,
            },
            "response": {
                "fields": {
                    out(name, "SessionId"): "session_id",
                    out(name, "PciNumber"): "transfer_number",
                    out(name, "PciClid"): "clid",
                }
            },
            "next": provider_error,
            "on": {
                "status_201": transfer,
                "status_200": transfer,
                "status_4xx": invalid,
                "failure": provider_error,
            },
        },
    )
    build.add(
        transfer,
        {
            "type": "transfer_to_pci",
            "number": f"$({out(name, 'PciNumber')})",
            "clid": f"$({out(name, 'PciClid')})",
            "next": result,
            "on": {"failure": provider_error},
        },
    )
    build.add(
        result,
        {
            "type": "data_connector",
            "timeout": 4,
            "retries": 1,
            "request": {
                "url": f"$(PciUrl)/sessions/$({out(name, 'SessionId')}:urlencode)",
                "headers": {"Authorization": "Bearer #(PCI_API_KEY)"},
            },
            "response": {"fields": {out(name, k): v for k, v in RESULT_FIELDS.items()}},
            "next": route,
            "on": {"failure": provider_error},
        },
    )
    rules = [
        Inline(
            source=out(name, "Result"), op="equals", value=outcome, goto=build.event(widget, event)
        )
        for outcome, event in PAYMENT_EVENTS
    ]
    build.add(route, {"type": "data_router", "rules": rules, "default": provider_error})


BRIDGE_BRANDS = {"visa", "master-card", "amex"}  # the bridge's default accepted brands


def _bridge_differences(props: dict[str, Any]) -> list[str]:
    """What the flow asks of Twilio <Pay> that the bridge decides by its own configuration."""
    out = []
    if props.get("language") not in (None, "", "default"):
        out.append("properties.language: the bridge speaks its own prompts")
    brands = props.get("valid_card_types")
    if isinstance(brands, list) and set(brands) != BRIDGE_BRANDS:
        out.append(
            "properties.valid_card_types: the bridge's configuration says which cards it takes "
            "(by default Visa, Mastercard and American Express)"
        )
    if props.get("max_attempts") not in (None, 3, "3"):
        out.append(
            "properties.max_attempts: the bridge allows 3 attempts per entry (its configuration)"
        )
    if props.get("security_code") in (False, "false"):
        out.append("properties.security_code: the bridge always asks for the security code")
    if props.get("postal_code") in (True, "true"):
        out.append("properties.postal_code: the bridge asks for a postcode only when configured to")
    return out
