"""The `twilio` library's REST client, pointed at `twilio_api_url` (Twilio itself, or the
simulator on loopback) and sending through a session of ours (which may carry in-process
mounts), with a bounded timeout."""

from __future__ import annotations

from typing import Any

import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from ivr.adapters.sms import TWILIO_API

TIMEOUT = 10.0  # seconds for one REST request


class RoutedHttpClient(TwilioHttpClient):
    """Requests for api.twilio.com go to `api_url` instead, through `session`."""

    def __init__(self, api_url: str, session: requests.Session | None = None):
        super().__init__(timeout=TIMEOUT)
        self.api_url = api_url.rstrip("/")
        if session is not None:
            self.session = session

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API) and self.api_url != TWILIO_API:
            url = self.api_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


def twilio_client(
    account_sid: str,
    auth_token: str,
    api_url: str = TWILIO_API,
    session: requests.Session | None = None,
) -> Client:
    return Client(account_sid, auth_token, http_client=RoutedHttpClient(api_url, session))
