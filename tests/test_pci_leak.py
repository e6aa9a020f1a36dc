"""The PCI bridge's definition of done: no card data anywhere outside the gateway call.

Full payments are keyed through a simulated call (LocalPhone: engine, bridge and simulator in one
process, the plan `pay_by_card` creating the session over in-process HTTP) for every card of the
contract's test-card table, plus a Luhn-invalid number, a card type not accepted, wrong expiries
and security codes keyed again, a decline followed by another card, a cancel by `*`, a caller who
hangs up mid-entry and three invalid numbers in a row. Then no card number, keyed expiry (MMYY as
typed, MM/YY, or spoken digit by digit) or security code may be found in:

- the logs: every logger at DEBUG, each record formatted with its exception text and extra
  attributes, and whatever reached stdout/stderr;
- Redis: every key and value (strings, hashes, lists, sets, ...), dumped at every prompt of every
  call (so the short-lived sealed card record is seen while it lives) and at the end;
- the SQL databases: the raw bytes of the SQLite files (engine call records and bridge ledger,
  journals included), or on PostgreSQL every row of every table of the test's own schema;
- the engine's call records (SqlRecorder.recent).

The simulator's transcript is out of scope: the caller's own keys are in it by design.

PostgreSQL: IVR_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test),
skipped when unreachable, failing when CI=true.

Also: the redaction filter on the handlers installed by ivr.adapters.logs.install and
foundation.redaction.install_logging.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import sqlalchemy

from foundation import redaction
from ivr.adapters import logs
from ivr.app.local_phone import CallReport, LocalPhone
from ivr.app.settings import Settings
from ivr.phone.twilio import KeySource
from tests.conftest import ROOT

START = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday morning in London
PAY_BY_CARD = "+442071230102"
CALLER = "+447700900123"
# The plan's own keys before the transfer: amount £42.50, confirm, a date two days after the
# start (DDMM), a new card, house number 12.
BEFORE_TRANSFER = ["42*50#", "1", (START + timedelta(days=2)).strftime("%d%m"), "2", "12#"]
ACCEPTED = ["visa", "mastercard", "amex", "discover"]  # Discover too, so it reaches the gateway


# --- what is keyed ---------------------------------------------------------------------------
#
# Card numbers (15-16 digits) are searched for anywhere, also grouped with spaces or dashes or
# spoken digit by digit. Expiries and codes are short digit strings, so they are chosen to be
# distinctive and searched for only as whole tokens, never inside a longer run of letters or
# digits: a random hex id (call sid, session id, lock token) holds "737" about once in 4,000
# characters, and the logs hold hundreds of thousands. Each expiry is searched as typed (MMYY),
# as MM/YY, as the MMYYYY the leg seals, and spoken digit by digit; each code as typed and
# spoken. The values:
# - expiries with years 2031-2046 (inside the 20-year limit from November 2026): no timestamp
#   is written without separators, and nothing else the system writes is four digits with a
#   leading zero or a month-like head (the date keyed is 2011, the amount 42.50 / 4250 pence);
# - codes that are not an amount, the house number, a port, a call duration or part of a CLID;
# - no code or expiry equals a last four digits, which may legitimately appear.
# test_search_strings_match_nothing_innocent makes the same kinds of calls with other cards (a
# control) and checks that none of these strings is found there, and that the control's own
# values are found when planted in each place.


@dataclass(frozen=True)
class Card:
    number: str
    expiry: str
    code: str


@dataclass(frozen=True)
class Payment:
    """One call: the keys on the payment leg, and how the bridge's session must end."""

    name: str
    leg_keys: list[str]
    state: str
    outcome: str | None
    keyed_numbers: tuple[str, ...] = ()
    keyed_expiries: tuple[str, ...] = ()
    keyed_codes: tuple[str, ...] = ()
    decline_code: str | None = None
    hangup: bool = False
    heard: tuple[str, ...] = ()  # what the caller must hear on the payment leg, in order


def card_payment(
    name: str, card: Card, state: str, outcome: str, decline_code: str | None = None
) -> Payment:
    keys = [card.number + "#", card.expiry, card.code, "1"]
    heard = ["expiry", "security code", f"ending {' '.join(card.number[-4:])}, press 1"]
    if outcome == "declined":
        keys.append("2")  # "to try another card press 1, to finish press 2"
        heard += ["declined", "To try another card"]
    else:
        heard.append("successful" if outcome == "success" else "could not process")
    return Payment(
        name,
        keys,
        state,
        outcome,
        (card.number,),
        (card.expiry,),
        (card.code,),
        decline_code,
        heard=tuple(heard),
    )


# The contract's test-card table, each with its own expiry and code.
TABLE = [
    ("visa", Card("4242424242424242", "0831", "737"), "completed", "success", None),
    ("mastercard", Card("5555555555554444", "0932", "846"), "completed", "success", None),
    ("mastercard-2", Card("2223003122003222", "1033", "519"), "completed", "success", None),
    ("amex", Card("378282246310005", "1134", "8461"), "completed", "success", None),
    ("discover", Card("6011111111111117", "1235", "628"), "completed", "success", None),
    ("generic", Card("4000000000000002", "0136", "374"), "failed", "declined", "generic_decline"),
    ("funds", Card("4000000000009995", "0237", "953"), "failed", "declined", "insufficient_funds"),
    ("lost", Card("4000000000009987", "0338", "481"), "failed", "declined", "lost_card"),
    ("stolen", Card("4000000000009979", "0439", "592"), "failed", "declined", "stolen_card"),
    ("expired", Card("4000000000000069", "0540", "706"), "failed", "declined", "expired_card"),
    ("cvc", Card("4000000000000127", "0641", "839"), "failed", "declined", "incorrect_cvc"),
    (
        "error",
        Card("4000000000000119", "0742", "165"),
        "failed",
        "gateway_error",
        "processing_error",
    ),
]

PAYMENTS = [
    card_payment(name, card, state, outcome, code) for name, card, state, outcome, code in TABLE
] + [
    # Luhn-invalid, then a brand not accepted (UnionPay), then an accepted American Express;
    # expiry with month 13, then expired (April 2019); a code of the wrong length; then right.
    Payment(
        "re-entry",
        [
            "4242424242424241#",
            "6200000000000005#",
            "371449635398431#",
            "1399",
            "0419",
            "0843",
            "593",
            "2864",
            "1",
        ],
        "completed",
        "success",
        ("4242424242424241", "6200000000000005", "371449635398431"),
        ("1399", "0419", "0843"),
        ("593", "2864"),
        heard=(
            "That card number is not valid.",
            "Sorry, we do not accept UnionPay cards.",
            "That expiry date is not valid.",
            "That card has expired.",
            "The security code is 4 digits.",
            "American Express ending 8 4 3 1",
        ),
    ),
    # Declined, another card, success.
    Payment(
        "another-card",
        ["4000000000000002#", "0944", "318", "1", "1", "2223003122003222#", "1045", "427", "1"],
        "completed",
        "success",
        ("4000000000000002", "2223003122003222"),
        ("0944", "1045"),
        ("318", "427"),
        heard=("declined", "To try another card, press 1.", "Mastercard ending 3 2 2 2"),
    ),
    # `*` at the security code prompt.
    Payment(
        "cancel",
        ["5555555555554444#", "0346", "*"],
        "cancelled",
        "cancelled",
        ("5555555555554444",),
        ("0346",),
        heard=("security code", "cancelled"),
    ),
    # The caller hangs up at the security code prompt (number and expiry are sealed by then).
    Payment(
        "hang-up",
        ["4242424242424242#", "1146"],
        "abandoned",
        "abandoned",
        ("4242424242424242",),
        ("1146",),
        hangup=True,
        heard=("security code",),
    ),
    # Three numbers that fail the Luhn check.
    Payment(
        "too-many",
        ["4242424242424241#", "5555555555554441#", "378282246310004#"],
        "failed",
        "too_many_attempts",
        ("4242424242424241", "5555555555554441", "378282246310004"),
        heard=(
            "That card number is not valid.",
            "That card number is not valid.",
            "That card number is not valid.",
            "could not take your card details",
        ),
    ),
]

# The control: the same kinds of calls with other values (none shares a search string above).
CONTROL = [
    card_payment("control-visa", Card("4000056655665556", "0532", "274"), "completed", "success"),
    card_payment(
        "control-decline",
        Card("4000000000009995", "0733", "962"),
        "failed",
        "declined",
        "insufficient_funds",
    ),
    Payment(
        "control-re-entry",
        ["4111111111111112#", "4111111111111111#", "1498", "0634", "583", "1"],
        "completed",
        "success",
        ("4111111111111112", "4111111111111111"),
        ("1498", "0634"),
        ("583",),
    ),
]


# --- searching -------------------------------------------------------------------------------


SEPARATOR = re.compile(r"(?<=\d)[ -](?=\d)")


def squash(text: str) -> str:
    """Digits grouped with spaces or dashes, or spoken one by one, made one run."""
    return SEPARATOR.sub("", text)


def token_pattern(value: str) -> re.Pattern[str]:
    """A short value as a whole token: not inside a longer run of letters or digits."""
    return re.compile(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])")


def spoken_pattern(value: str) -> re.Pattern[str]:
    """A short value spoken digit by digit ("7 3 7"), not inside a longer run of characters
    spoken one by one (a confirmation code "J 8 F 7 3 7", a longer spoken number)."""
    spoken = " ".join(value)
    return re.compile(
        rf"(?<![0-9A-Za-z])(?<!\b[0-9A-Za-z] ){spoken}(?![0-9A-Za-z])(?! [0-9A-Za-z]\b)"
    )


@dataclass(frozen=True)
class Secret:
    """What to look for: `literal` must be in the text (squashed of separators between digits
    for card numbers), then `pattern`, when given, must match."""

    what: str
    literal: str
    pattern: re.Pattern[str] | None = None
    squashed: bool = False


def secrets_of(payments: list[Payment]) -> list[Secret]:
    out: list[Secret] = []
    for p in payments:
        for number in p.keyed_numbers:
            out.append(Secret(f"card number {number} ({p.name})", number, squashed=True))
        for expiry in p.keyed_expiries:
            slashed = f"{expiry[:2]}/{expiry[2:]}"
            sealed = f"{expiry[:2]}20{expiry[2:]}"  # the form the leg seals: MMYYYY
            out.append(
                Secret(
                    f"expiry {slashed} ({p.name})",
                    slashed,
                    re.compile(rf"(?<!\d){re.escape(slashed)}(?!\d)"),
                )
            )
            for form in (expiry, sealed):
                out += [
                    Secret(f"expiry {form} ({p.name})", form, token_pattern(form)),
                    Secret(
                        f"expiry {form} spoken ({p.name})", " ".join(form), spoken_pattern(form)
                    ),
                ]
        for code in p.keyed_codes:
            out += [
                Secret(f"security code {code} ({p.name})", code, token_pattern(code)),
                Secret(
                    f"security code {code} spoken ({p.name})", " ".join(code), spoken_pattern(code)
                ),
            ]
    return out


TRUNCATED = re.compile(r"\(\d+ characters truncated\)")
CACHED = re.compile(r"\[cached since [0-9.]+s ago\]")


def findings(corpus: dict[str, list[str]], secrets: list[Secret]) -> list[str]:
    """Every (secret, place) where a secret is found, with the text around it."""
    found = []
    for place, texts in corpus.items():
        text = "\n\n".join(dict.fromkeys(texts))  # each text once; no secret spans two
        # SQLAlchemy's DEBUG row log shortens long values with "... (839 characters
        # truncated) ...": a count, not data (it once matched a security code by chance)
        text = TRUNCATED.sub("(truncated)", text)
        # ... and its statement cache says how old an entry is ("[cached since 165.4s ago]")
        text = CACHED.sub("[cached]", text)
        squashed = squash(text)
        for secret in secrets:
            haystack = squashed if secret.squashed else text
            if secret.literal not in haystack:
                continue
            if secret.pattern is None:
                start = haystack.index(secret.literal)
                end = start + len(secret.literal)
            else:
                match = secret.pattern.search(haystack)
                if match is None:
                    continue
                start, end = match.span()
            around = haystack[max(0, start - 80) : end + 80]
            found.append(f"{secret.what} in {place}: ...{around!r}...")
    return found


# --- capturing everything --------------------------------------------------------------------


class Capture(logging.Handler):
    """Every record, formatted with its exception text, stack and extra attributes."""

    STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)  # message + exc_text (formatted here if not yet) + stack
        extra = {k: v for k, v in vars(record).items() if k not in self.STANDARD}
        self.lines.append(line + (f" {extra!r}" if extra else ""))


@pytest.fixture
def captured_logs() -> Iterator[Capture]:
    """A DEBUG handler on the root (and on any logger that does not propagate), every logger
    at DEBUG (werkzeug, urllib3, redis, sqlalchemy, the engine and the bridge included)."""
    handler = Capture()
    root = logging.getLogger()
    names = [
        "werkzeug",
        "urllib3",
        "ivr",
        "pci_bridge",
        "applets",
        "redis",
        "requests",
        *logging.root.manager.loggerDict,
    ]
    loggers = [logging.getLogger(n) for n in dict.fromkeys(names)]
    saved = [(lg, lg.level) for lg in loggers] + [(root, root.level)]
    detached = [lg for lg in loggers if not lg.propagate]
    root.addHandler(handler)
    for lg in detached:
        lg.addHandler(handler)
    for lg, _ in saved:
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for lg in detached:
            lg.removeHandler(handler)
        for lg, level in saved:
            lg.setLevel(level)


READ = {
    "string": ("get",),
    "hash": ("hgetall",),
    "list": ("lrange", 0, -1),
    "set": ("smembers",),
    "zset": ("zrange", 0, -1, "withscores"),
    "stream": ("xrange",),
}


def dump_redis(client: redis.Redis) -> list[str]:
    """Every key of the database as `key [type, ttl N] = value` (pipelined: three round trips)."""
    keys = list(client.scan_iter(count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
    kinds = [k.decode() for k in pipe.execute()]
    for key, kind in zip(keys, kinds, strict=True):
        if kind in READ:
            name, *args = READ[kind]
            if "withscores" in args:
                getattr(pipe, name)(key, 0, -1, withscores=True)
            else:
                getattr(pipe, name)(key, *args)
        pipe.ttl(key)
    answers = iter(pipe.execute())
    out = []
    for key, kind in zip(keys, kinds, strict=True):
        value = next(answers) if kind in READ else None
        ttl = next(answers)
        if kind in READ:  # else "none": it expired between SCAN and TYPE
            out.append(f"{key.decode()} [{kind}, ttl {ttl}] = {_text(value)}")
    return out


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return repr({_text(k): _text(v) for k, v in value.items()})
    if isinstance(value, (list, set, tuple)):
        return repr([_text(v) for v in value])
    return str(value)


class WatchedKeys(KeySource):
    """The caller's keys; before each entry is pressed, Redis is dumped (what is live now)."""

    def __init__(self, entries: list[str], client: redis.Redis, snapshots: list[str]):
        super().__init__(entries)
        self.client = client
        self.snapshots = snapshots
        self.sealed_seen: list[tuple[str, int]] = []  # (key, ttl) of sealed card records

    def next(self, prompt_text: str, leg: int = 0) -> Any:
        dump = dump_redis(self.client)
        self.snapshots.extend(dump)
        for line in dump:
            key, kind_ttl = line.split(" = ", 1)[0].split(" ", 1)
            if key.endswith(":card"):
                self.sealed_seen.append((key, int(kind_ttl.split("ttl ")[1].rstrip("]"))))
        return super().next(prompt_text, leg)


def dump_sql(url: str) -> list[str]:
    """Every row of every table (PostgreSQL: of the URL's search_path schema), as text."""
    db = sqlalchemy.create_engine(url)
    try:
        inspector = sqlalchemy.inspect(db)
        out = []
        with db.connect() as conn:
            for table in inspector.get_table_names():
                rows = conn.execute(sqlalchemy.text(f'SELECT * FROM "{table}"')).all()
                out += [f"{table}: {tuple(str(v) for v in row)!r}" for row in rows]
        return out
    finally:
        db.dispose()


def sqlite_bytes(folder: Path) -> list[str]:
    """The raw bytes of every SQLite file in `folder` (journals and WAL included), as latin-1
    so every byte is one character and digits are found wherever they are."""
    return [path.read_bytes().decode("latin-1") for path in sorted(folder.glob("*.sqlite3*"))]


# --- the run ---------------------------------------------------------------------------------


@dataclass
class Run:
    corpus: dict[str, list[str]] = field(default_factory=dict)
    reports: list[tuple[Payment, CallReport]] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # payment name → view
    sealed_seen: list[tuple[str, int]] = field(default_factory=list)
    live_card_keys: list[str] = field(default_factory=list)
    record_count: int = 0


def redis_db(redis_url: str, db: int) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{db}"


def pay(
    payments: list[Payment],
    *,
    store_url: str,
    database_url: str,
    ledger_url: str,
    redis_client: redis.Redis,
) -> Run:
    """Make every payment through one in-process system; collect Redis, records, results."""
    run = Run()
    snapshots: list[str] = []
    settings = Settings(
        callplans=ROOT / "callplans",
        store_url=store_url,
        database_url=database_url,
        watch_plans=False,
        pci={"state_url": store_url, "database_url": ledger_url, "accepted_brands": ACCEPTED},
    )
    with requests.Session() as http:
        phone = LocalPhone(settings, http=http, start=START)
        system = phone.system
        bridge = system.bridge
        try:
            for payment in payments:
                keys = WatchedKeys(BEFORE_TRANSFER + payment.leg_keys, redis_client, snapshots)
                report = phone.call(PAY_BY_CARD, CALLER, keys)
                run.reports.append((payment, report))
                run.sealed_seen += keys.sealed_seen
                phone.clock.advance(60)
                session_id = (report.data or {}).get("SessionId")
                assert session_id, (payment.name, report.data)
                run.sessions[payment.name] = bridge.sessions.view(session_id)
            records = system.recorder.recent(1000)
            run.record_count = len(records)
            run.corpus["call records (SqlRecorder.recent)"] = [repr(r) for r in records]
        finally:
            phone.close()  # the call records' database, the bridge's ledger and Redis state
            system.store.client.close()
    final = dump_redis(redis_client)
    run.live_card_keys = [line for line in final if line.split(" ", 1)[0].endswith(":card")]
    run.corpus["Redis (at every prompt)"] = snapshots
    run.corpus["Redis (at the end)"] = final
    return run


def check_payments(run: Run) -> None:
    """The calls did what they were meant to (else finding nothing would prove nothing)."""
    for payment, report in run.reports:
        errors = [e.text for e in report.result.events if e.kind == "error"]
        assert errors == [], (payment.name, errors)
        heard = " ".join(report.result.heard(leg=1))
        assert "card number" in heard, (payment.name, heard)
        position = 0
        for words in payment.heard:
            found = heard.find(words, position)
            assert found >= 0, (payment.name, words, heard)
            position = found + len(words)
        view = run.sessions[payment.name]
        assert view["state"] == payment.state, (payment.name, view)
        result = view["result"]
        assert result is not None and result["outcome"] == payment.outcome, (payment.name, result)
        if payment.decline_code:
            assert result["gateway"]["decline_code"] == payment.decline_code, result
        if payment.outcome == "success":
            assert result["confirmation_code"] in heard.replace(" ", ""), (payment.name, heard)
            assert (report.data or {}).get("PaymentOutcome") == "success"
        assert payment.hangup == (report.result.ended_by == "caller"), payment.name
    assert run.record_count == len(run.reports)  # one call record per call


@pytest.fixture
def postgres_url(postgresql_url: str) -> str:
    """A fresh PostgreSQL schema of this test's own (conftest: skipped locally without a
    server, a failure in CI)."""
    return postgresql_url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[tuple[str, redis.Redis]]:
    """Database 11 of the test Redis, empty, for this test alone."""
    url = redis_db(redis_url, 11)
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()
    client.close()


def run_everything(
    payments: list[Payment],
    backend: str,
    tmp_path: Path,
    redis_client: tuple[str, redis.Redis],
    captured: Capture,
    capfd: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> Run:
    store_url, client = redis_client
    if backend == "sqlite":
        database_url = f"sqlite:///{tmp_path}/calls.sqlite3"
        ledger_url = f"sqlite:///{tmp_path}/pci-ledger.sqlite3"
    else:
        database_url = ledger_url = request.getfixturevalue("postgres_url")
    run = pay(
        payments,
        store_url=store_url,
        database_url=database_url,
        ledger_url=ledger_url,
        redis_client=client,
    )
    if backend == "sqlite":
        run.corpus["SQLite files (raw bytes)"] = sqlite_bytes(tmp_path)
        assert len(run.corpus["SQLite files (raw bytes)"]) >= 2
        run.corpus["SQLite rows"] = dump_sql(database_url) + dump_sql(ledger_url)
    else:
        run.corpus["PostgreSQL rows"] = dump_sql(database_url)
    out, err = capfd.readouterr()
    run.corpus["logs"] = list(captured.lines)
    run.corpus["stdout/stderr"] = [out, err]
    return run


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_no_card_data_anywhere_after_every_test_card(
    backend: str,
    tmp_path: Path,
    redis_client: tuple[str, redis.Redis],
    captured_logs: Capture,
    capfd: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    run = run_everything(PAYMENTS, backend, tmp_path, redis_client, captured_logs, capfd, request)
    check_payments(run)

    # Each place was really captured and searched: what may be there is there.
    corpus = run.corpus
    database = corpus.get("SQLite files (raw bytes)") or corpus["PostgreSQL rows"]
    completed = [v for v in run.sessions.values() if v["state"] == "completed"]
    for view in run.sessions.values():
        assert any(view["session_id"] in line for line in corpus["logs"])
        assert any(view["session_id"] in text for text in database)
    for view in completed:
        code = view["result"]["confirmation_code"]
        last4 = view["result"]["card"]["last4"]
        assert any(code in text for text in database), code
        assert any(last4 in text for text in database), last4
    assert any(line.startswith("pci:leg:") for line in corpus["Redis (at the end)"])
    assert any(line.startswith("ivr:") for line in corpus["Redis (at every prompt)"])

    # The sealed card record was live (encrypted, with a short TTL) while the caller keyed...
    assert run.sealed_seen, "no sealed card record was ever seen in Redis"
    assert all(0 < ttl <= 300 for _, ttl in run.sealed_seen), run.sealed_seen
    # ...and is gone once each session has ended (charged, cancelled, abandoned, failed).
    assert run.live_card_keys == []

    assert findings(corpus, secrets_of(PAYMENTS)) == []


def test_search_strings_match_nothing_innocent(
    tmp_path: Path,
    redis_client: tuple[str, redis.Redis],
    captured_logs: Capture,
    capfd: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    """The control: calls keyed with other cards leave nothing that the leak test's search
    strings would match (timestamps, ids, amounts, durations, ports...), while the control's
    own values, planted in each place, are found: the search is neither noisy nor blind."""
    run = run_everything(CONTROL, "sqlite", tmp_path, redis_client, captured_logs, capfd, request)
    check_payments(run)
    assert findings(run.corpus, secrets_of(PAYMENTS)) == []

    assert findings(run.corpus, secrets_of(CONTROL)) == []  # the control leaks nothing either

    # Planted in every place, the control's number, expiry and MM/YY are found there.
    line = "x 4000056655665556 0532 05/32"
    planted = {place: [*texts, line] for place, texts in run.corpus.items()}
    found = findings(planted, [s for s in secrets_of(CONTROL[:1]) if "spoken" not in s.what])
    assert len(found) == len(planted) * 3, found
    # Spoken digits are found on their own, not inside a longer spoken number.
    said = findings({"TwiML": ["Your code is 2 7 4."]}, secrets_of(CONTROL[:1]))
    assert [f.split(" in ")[0] for f in said] == ["security code 274 spoken (control-visa)"]
    assert findings({"TwiML": ["the card ending 0 2 7 4"]}, secrets_of(CONTROL[:1])) == []


# --- the redaction filter --------------------------------------------------------------------


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize(
    "install",
    [logs.install, redaction.install_logging],
    ids=["ivr.adapters.logs.install", "install_logging"],
)
def test_installed_handlers_redact_card_numbers(install: Any, restore_root: None) -> None:
    install("DEBUG")
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    log = logging.getLogger("tests.pci_leak.redaction")
    log.info("keyed 4242424242424242 then hash")
    log.warning("args: %s and %s", "5555 5555 5555 4444", "3782-822463-10005")
    try:
        raise ValueError("bad card 4000000000000002")
    except ValueError:
        log.exception("failed for %s", "ps_1")
    log.debug("not a card: 4242424242424241 (Luhn fails), order 1234567890")
    text = stream.getvalue()
    for number in (
        "4242424242424242",
        "5555 5555 5555 4444",
        "3782-822463-10005",
        "4000000000000002",
    ):
        assert number not in text, text
    assert text.count("[REDACTED]") == 5, text  # the exception's message and its traceback
    assert "keyed [REDACTED] then hash" in text
    assert "ValueError: bad card [REDACTED]" in text
    assert "4242424242424241" in text and "1234567890" in text  # only Luhn-valid runs go
