"""The floor the benchmarks measure the engine against: a bare Flask webhook that does one
Redis GET and one SET (a call's state read and written) and answers fixed TwiML. Served the
same way as the engine (`gunicorn -c gunicorn.conf.py 'bench.floor:create_app()'`), against the
same Redis (FLOOR_REDIS_URL)."""

from __future__ import annotations

import os

import redis
from flask import Flask, Response, request

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/turn/1/keys" '
    'input="dtmf" numDigits="1" timeout="5"><Say voice="Polly.Amy" language="en-GB">To pay, '
    "press 1. For an agent, press 0.</Say></Gather></Response>"
)
STATE = "x" * 1500  # about the size of a call's session


def create_app() -> Flask:
    app = Flask("floor")
    client = redis.Redis.from_url(os.environ.get("FLOOR_REDIS_URL", "redis://127.0.0.1:6379/0"))

    @app.post("/voice")
    @app.post("/voice/turn/<int:turn>/keys")
    @app.post("/voice/status")
    def webhook(turn: int = 0) -> Response:
        key = "floor:" + request.form.get("CallSid", "")
        client.get(key)
        client.set(key, STATE, ex=3600)
        return Response(TWIML, mimetype="text/xml")

    @app.get("/health")
    def health() -> Response:
        return Response("ok")

    return app
