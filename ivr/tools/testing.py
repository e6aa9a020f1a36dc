"""pytest fixtures for call plan tests written in Python: the same simulator as `ivr test`.

Enable with `pytest_plugins = ["ivr.tools.testing"]` in a conftest.py, then:

    def test_pays(ivr_phone):
        phone = ivr_phone(callplans="callplans", services=[
            {"method": "POST", "url": "http://127.0.0.1:8080/pci/v1/sessions", "status": 201,
             "json": {"session_id": "S1", "transfer_number": "+442079460001",
                      "clid": "+442079460100"}},
        ])
        call = phone.call("+442071230102", "+447700900123", ["42*50#", "1"])
        assert call.outcome == "PaymentTaken"
        assert "confirmation code" in " ".join(call.heard())
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ivr.adapters.canned import CannedAnswer, canned_session
from ivr.app.local_phone import LocalPhone
from ivr.app.settings import Destination, Settings


@pytest.fixture
def ivr_phone(tmp_path: Path) -> Iterator[Callable[..., LocalPhone]]:
    """Build an in-process phone: `ivr_phone(callplans=..., services=[...], dial={...})`."""
    phones: list[LocalPhone] = []

    def build(
        callplans: str | Path = "callplans",
        *,
        services: list[dict[str, Any]] | None = None,
        dial: dict[str, str] | None = None,
        start: datetime | None = None,
        settings: Settings | None = None,
        **overrides: Any,
    ) -> LocalPhone:
        base = settings or Settings(
            callplans=Path(callplans), database_url=f"sqlite:///{tmp_path}/calls.sqlite3"
        )
        directory = dict(base.directory)
        directory.update({n: Destination(answer=a) for n, a in (dial or {}).items()})
        http = None
        if services is not None:
            answers = [CannedAnswer.parse(s, f"services[{i}]") for i, s in enumerate(services)]
            http, _ = canned_session(answers)
        from dataclasses import replace

        phone = LocalPhone(replace(base, directory=directory, **overrides), http=http, start=start)
        phones.append(phone)
        return phone

    yield build
    for phone in phones:
        phone.close()
