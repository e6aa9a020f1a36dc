"""The OpenAPI 3 document of the session API (served at /pci/v1/openapi.json, kept in docs/)."""

from __future__ import annotations

from typing import Any

from pci_bridge.kinds import Outcome, SessionState

_CARD = {
    "type": ["object", "null"],
    "properties": {
        "brand": {
            "type": "string",
            "enum": [
                "visa",
                "mastercard",
                "amex",
                "discover",
                "diners",
                "jcb",
                "unionpay",
                "maestro",
            ],
        },
        "last4": {"type": "string", "pattern": "^[0-9]{4}$"},
        "exp_month": {"type": "integer", "minimum": 1, "maximum": 12},
        "exp_year": {"type": "integer"},
    },
}

_RESULT = {
    "type": ["object", "null"],
    "description": "null until the session has ended",
    "properties": {
        "outcome": {"type": "string", "enum": [str(o) for o in Outcome]},
        "confirmation_code": {"type": ["string", "null"]},
        "amount": {"type": "string"},
        "currency": {"type": "string"},
        "card": _CARD,
        "card_token": {"type": ["string", "null"]},
        "gateway": {
            "type": ["object", "null"],
            "properties": {
                "name": {"type": "string"},
                "reference": {"type": ["string", "null"]},
                "decline_code": {"type": ["string", "null"]},
                "message": {"type": ["string", "null"]},
            },
        },
        "attempts": {"type": "integer", "minimum": 0},
    },
    "required": ["outcome"],
}

_SESSION = {
    "type": "object",
    "required": [
        "session_id",
        "state",
        "clid",
        "transfer_number",
        "amount",
        "currency",
        "reference",
        "created_at",
        "expires_at",
        "result",
    ],
    "properties": {
        "session_id": {"type": "string"},
        "state": {"type": "string", "enum": [str(s) for s in SessionState]},
        "clid": {
            "type": ["string", "null"],
            "description": "the CLID to present when "
            "transferring the caller (null for stored-card payments)",
        },
        "transfer_number": {"type": ["string", "null"]},
        "amount": {"type": "string", "pattern": r"^\d+\.\d{2}$"},
        "currency": {"type": "string"},
        "reference": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "result": _RESULT,
    },
}

_PAYMENT = {
    "type": "object",
    "description": "an ended session, masked: the card's brand and last four, never its token",
    "required": ["session_id", "state", "outcome", "confirmation_code", "amount", "currency",
                 "reference", "card", "attempts", "created_at", "ended_at"],
    "properties": {
        "session_id": {"type": "string"},
        "state": {"type": "string", "enum": [str(s) for s in SessionState]},
        "outcome": {"type": ["string", "null"], "enum": [*(str(o) for o in Outcome), None]},
        "confirmation_code": {"type": ["string", "null"], "pattern": "^[0-9]{8}$"},
        "amount": {"type": "string", "pattern": r"^\d+\.\d{2}$"},
        "currency": {"type": "string"},
        "reference": {"type": "string"},
        "description": {"type": ["string", "null"]},
        "caller_clid": {"type": ["string", "null"]},
        "card": {
            "type": ["object", "null"],
            "properties": {"brand": {"type": "string"}, "last4": {"type": ["string", "null"]}},
        },
        "attempts": {"type": "integer", "minimum": 0},
        "gateway": _RESULT["properties"]["gateway"],  # type: ignore[index]
        "created_at": {"type": "string", "format": "date-time"},
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
    },
}  # fmt: skip

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _query(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


def document() -> dict[str, Any]:
    session_ref = {"$ref": "#/components/schemas/Session"}
    error_ref = {"$ref": "#/components/schemas/Error"}
    session_id = {
        "name": "session_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    unauthorized = _json(
        error_ref,
        "no valid API key (Authorization: Bearer KEY); the answer carries WWW-Authenticate: Bearer",
    )
    paths: dict[str, Any] = {
        "/pci/v1/sessions": {
            "post": {
                "operationId": "createSession",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/NewSession"}}
                    },
                },
                "responses": {
                    "201": _json(session_ref, "created (or charged, with card_token)"),
                    "200": _json(session_ref, "an Idempotency-Key replay"),
                    "400": _json(error_ref, "a field is wrong"),
                    "409": _json(error_ref, "no free CLID"),
                    "422": _json(error_ref, "Idempotency-Key reused with other parameters"),
                },
            },
            "get": {
                "operationId": "sessionByClid",
                "parameters": [
                    {"name": "clid", "in": "query", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": _json(session_ref, "the latest session presented with that CLID"),
                    "400": _json(error_ref, "clid missing"),
                    "404": _json(error_ref, "none"),
                },
            },
        },
        "/pci/v1/sessions/{session_id}": {
            "get": {
                "operationId": "getSession",
                "parameters": [session_id],
                "responses": {
                    "200": _json(session_ref, "the session"),
                    "404": _json(error_ref, "unknown session"),
                },
            },
        },
        "/pci/v1/sessions/{session_id}/cancel": {
            "post": {
                "operationId": "cancelSession",
                "parameters": [session_id],
                "responses": {
                    "200": _json(session_ref, "cancelled"),
                    "404": _json(error_ref, "unknown session"),
                    "409": _json(error_ref, "already ended"),
                },
            },
        },
        "/pci/v1/payments": {
            "get": {
                "operationId": "listPayments",
                "description": "ended sessions, newest first, for back-office screens and "
                "inquiries",
                "parameters": [
                    _query("q", "a confirmation code, a reference or the caller's number"),
                    _query("status", "states or outcomes, comma-separated (completed, "
                           "declined, ...)"),
                    _query("from", "ended at or after: a date (2026-11-30) or ISO time"),
                    _query("to", "ended before the end of: a date, or before an ISO time"),
                    {"name": "limit", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
                    _query("cursor", "the next_cursor of the previous page"),
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "payments": {"type": "array",
                                             "items": {"$ref": "#/components/schemas/Payment"}},
                                "next_cursor": {"type": ["string", "null"]},
                            },
                        },
                        "a page of payments",
                    ),
                    "400": _json(error_ref, "a parameter is wrong"),
                },
            },
        },
        "/pci/v1/payments/{confirmation_code}": {
            "get": {
                "operationId": "findPayment",
                "description": "one ended session by its confirmation code (8 digits) or its "
                "session id (ps_...)",
                "parameters": [{"name": "confirmation_code", "in": "path", "required": True,
                                "schema": {"type": "string",
                                           "pattern": "^([0-9]{8}|ps_[0-9a-f]{8,40})$"}}],
                "responses": {
                    "200": _json(
                        {"allOf": [{"$ref": "#/components/schemas/Payment"},
                                   {"type": "object", "properties": {"history": {
                                       "type": "array", "items": {"type": "object"}}}}]},
                        "the payment, with each card tried (history)",
                    ),
                    "400": _json(error_ref, "neither 8 digits nor a session id"),
                    "404": _json(error_ref, "no ended payment has that code or id"),
                },
            },
        },
    }  # fmt: skip
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"]["401"] = unauthorized
    paths["/pci/v1/openapi.json"] = {
        "get": {
            "operationId": "openapiDocument",
            "security": [],
            "responses": {
                "200": {
                    "description": "this document (public: no key needed)",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "PCI bridge session API",
            "version": "1.0.0",
            "description": "Create a payment session, transfer the caller presenting "
            "its CLID, read the result back. Every call but this "
            "document needs `Authorization: Bearer KEY` with a key from "
            "the bridge's PCI_API_KEYS.",
        },
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": (
                        "a key from PCI_API_KEYS (comma-separated, so keys can be rotated)"
                    ),
                }
            },
            "schemas": {
                "Session": _SESSION,
                "Payment": _PAYMENT,
                "Error": _ERROR,
                "NewSession": {
                    "type": "object",
                    "required": ["amount", "currency", "reference"],
                    "additionalProperties": False,
                    "properties": {
                        "amount": {
                            "type": "string",
                            "description": 'decimal, e.g. "42.50"; "0.00" with save_card verifies '
                            "and saves a card, taking nothing",
                        },
                        "currency": {"type": "string", "description": "ISO 4217"},
                        "reference": {"type": "string", "maxLength": 64},
                        "description": {"type": "string", "maxLength": 200},
                        "caller_clid": {"type": "string"},
                        "card_token": {
                            "type": "string",
                            "maxLength": 64,
                            "description": "pay with a stored card, charged at once",
                        },
                        "save_card": {"type": "boolean"},
                        "wait": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": 8,
                            "description": (
                                "with card_token: seconds to wait for the gateway "
                                "(default 5); a charge still going on then answers 201 "
                                "in_progress with result null, and the result is read later"
                            ),
                        },
                        "language": {
                            "type": "string",
                            "maxLength": 16,
                            "description": (
                                "the language the payment leg speaks, e.g. cy-GB (default: "
                                "the bridge's own); English and Welsh"
                            ),
                        },
                        "max_cards": {
                            "type": "integer",
                            "minimum": 1,
                            "description": (
                                "cards the caller may try in this session after a decline "
                                "(default and most: the bridge's max_cards)"
                            ),
                        },
                    },
                },
            },
        },
    }
