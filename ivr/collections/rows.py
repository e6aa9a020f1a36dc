"""Reading a collections CSV file (collections.md): strict columns, one account a row, every
problem named as FILE:LINE: column: message, a bad row never stopping the good ones."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

REQUIRED = ("account", "phone", "amount_due")
OPTIONAL = ("currency", "due_date", "name", "email", "reference", "timezone")
MAX_FILE_BYTES = 20 * 1024 * 1024  # a file larger than this is refused whole
MAX_ROWS = 100_000
MAX_FIELD = 200  # characters in any one value
AMOUNT = re.compile(r"[0-9]{1,9}(\.[0-9]{1,2})?")
ACCOUNT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}")
CURRENCY = re.compile(r"[A-Z]{3}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")

Say = Callable[[str, str], None]  # (column, message): a problem on the row being read


@dataclass(frozen=True)
class Problem:
    """What is wrong and where: `file:line: column: message` (the header is line 1)."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.column}: {self.message}"


@dataclass(frozen=True)
class AccountRow:
    """One account in arrears, as read from a row (amount in minor units)."""

    line: int
    account: str
    phone: str  # E.164
    amount_minor: int
    currency: str
    due_date: date | None
    name: str
    email: str
    reference: str
    timezone: str

    @property
    def amount_due(self) -> Decimal:
        return Decimal(self.amount_minor).scaleb(-2)


@dataclass
class Parsed:
    """A file read: its good rows, every problem, warnings, and whether the file as a whole
    could not be read (no usable header, not UTF-8, too large)."""

    file: str
    rows: list[AccountRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unreadable: bool = False

    @property
    def refused_lines(self) -> int:
        return len({p.line for p in self.problems if p.line > 1})


@dataclass(frozen=True)
class Defaults:
    """What a row leaves out: the currency, the time zone, and the region national phone
    numbers are read in."""

    currency: str = "GBP"
    timezone: str = "Europe/London"
    region: str = "GB"


def read_rows(data: bytes, file: str, defaults: Defaults) -> Parsed:
    """The rows of a collections CSV file (`file` names it in problems)."""
    parsed = Parsed(file)
    if len(data) > MAX_FILE_BYTES:
        return _unreadable(parsed, f"the file is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return _unreadable(parsed, f"not UTF-8 text (byte {exc.start} cannot be read)")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return _unreadable(parsed, f"the header cannot be read: {exc}")
    if not header or not any(h.strip() for h in header):
        return _unreadable(parsed, "the file is empty: expected a header row")
    columns = _columns(header, parsed)
    if columns is None:
        parsed.unreadable = True
        return parsed
    seen: dict[str, int] = {}
    read = 0
    try:
        for record in reader:
            line = reader.line_num
            if not any(value.strip() for value in record):
                continue  # a blank line
            read += 1
            if read > MAX_ROWS:
                parsed.problems.append(
                    Problem(file, line, "*", f"more than {MAX_ROWS} rows: the rest not read")
                )
                break
            row = _row(record, columns, line, parsed, defaults)
            if row is None:
                continue
            if row.account in seen:
                parsed.problems.append(
                    Problem(file, line, "account",
                            f"account {row.account} is already on line {seen[row.account]}")
                )  # fmt: skip
                continue
            seen[row.account] = line
            parsed.rows.append(row)
    except csv.Error as exc:
        parsed.problems.append(
            Problem(file, reader.line_num, "*", f"cannot be read: {exc}; the rest not read")
        )
    return parsed


def _unreadable(parsed: Parsed, message: str) -> Parsed:
    parsed.problems.append(Problem(parsed.file, 1, "*", message))
    parsed.unreadable = True
    return parsed


def _columns(header: list[str], parsed: Parsed) -> dict[str, int] | None:
    """Column name → position (names case-insensitive); None when a required one is missing
    or named twice."""
    columns: dict[str, int] = {}
    unknown: list[str] = []
    for position, raw in enumerate(header):
        name = raw.strip().lower()
        if name in columns:
            parsed.problems.append(Problem(parsed.file, 1, name, "the column is named twice"))
            return None
        if name in REQUIRED or name in OPTIONAL:
            columns[name] = position
        elif name:
            unknown.append(raw.strip())
    missing = [name for name in REQUIRED if name not in columns]
    for name in missing:
        parsed.problems.append(
            Problem(parsed.file, 1, name, "required column missing from the header")
        )
    if missing:
        return None
    if unknown:
        parsed.warnings.append(
            f"{parsed.file}:1: unknown columns ignored: {', '.join(unknown[:10])}"
        )
    return columns


def _row(
    record: list[str], columns: dict[str, int], line: int, parsed: Parsed, defaults: Defaults
) -> AccountRow | None:
    file = parsed.file
    before = len(parsed.problems)

    def value(name: str) -> str:
        position = columns.get(name)
        if position is None or position >= len(record):
            return ""
        return record[position].strip()

    def problem(column: str, message: str) -> None:
        parsed.problems.append(Problem(file, line, column, message))

    if len(record) > len(columns) + 50:
        problem("*", f"{len(record)} fields: more than the header's columns allow")
        return None
    for name in columns:
        if len(value(name)) > MAX_FIELD:
            problem(name, f"longer than {MAX_FIELD} characters")
    if len(parsed.problems) > before:
        return None
    account = value("account")
    if not account:
        problem("account", "required, found nothing")
    elif not ACCOUNT.fullmatch(account):
        problem("account", f"'{account[:40]}' is not an account number (letters, digits, . _ / -)")
    phone = _phone(value("phone"), defaults.region, problem)
    amount = _amount(value("amount_due"), problem)
    currency = value("currency").upper() or defaults.currency
    if not CURRENCY.fullmatch(currency):
        problem("currency", f"'{currency[:10]}' is not a currency code (three letters: GBP)")
    due = None
    if value("due_date"):
        try:
            due = date.fromisoformat(value("due_date"))
        except ValueError:
            problem("due_date", f"'{value('due_date')[:20]}' is not a date (YYYY-MM-DD)")
    email = value("email")
    if email and not EMAIL.fullmatch(email):
        problem("email", f"'{email[:60]}' is not an email address")
    zone = value("timezone") or defaults.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problem("timezone", f"'{zone[:40]}' is not a time zone (an IANA name: Europe/London)")
    if len(parsed.problems) > before or phone is None or amount is None:
        return None
    return AccountRow(
        line=line,
        account=account,
        phone=phone,
        amount_minor=amount,
        currency=currency,
        due_date=due,
        name=value("name"),
        email=email,
        reference=value("reference"),
        timezone=zone,
    )


def _phone(raw: str, region: str, say: Say) -> str | None:
    if not raw:
        say("phone", "required, found nothing")
        return None
    try:
        number = phonenumbers.parse(raw, None if raw.startswith("+") else region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        say("phone", f"'{raw[:30]}' is not a phone number (E.164: +447700900123)")
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _amount(raw: str, say: Say) -> int | None:
    if not raw:
        say("amount_due", "required, found nothing")
        return None
    if not AMOUNT.fullmatch(raw):
        say("amount_due", f"'{raw[:20]}' is not an amount (a plain decimal: 72.50)")
        return None
    try:
        minor = int(Decimal(raw).scaleb(2))
    except InvalidOperation:  # the pattern admits only decimals
        minor = 0
    if minor <= 0:
        say("amount_due", f"'{raw}' should be more than zero")
        return None
    return minor
