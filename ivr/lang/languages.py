"""Plans in more than one language: language tags, values given per language, the caller's
language at run time, and number words for reading what a caller said."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from foundation.suggest import did_you_mean
from ivr.lang.diagnostics import Path
from ivr.lang.fields import INVALID, Check, FieldKind, found
from ivr.lang.templates import Template

TAG_RE = re.compile(r"[a-z]{2,3}-[A-Z]{2}")  # BCP 47 language-REGION, as Twilio takes them


@dataclass(frozen=True)
class Language:
    """One language a plan speaks: its tag and, when given, the voice that speaks it."""

    tag: str
    voice: str | None = None


@dataclass(frozen=True)
class Localized:
    """A value given per language (`{en-GB: ..., cy-GB: ...}`)."""

    texts: Mapping[str, Any]

    def pick(self, language: str) -> Any:
        """The value for `language`, else the first one given."""
        if language in self.texts:
            return self.texts[language]
        return next(iter(self.texts.values()))


def pick(value: Any, language: str) -> Any:
    """`value` itself, or its version for `language` when it is given per language."""
    return value.pick(language) if isinstance(value, Localized) else value


class Languages(FieldKind):
    """`languages:` — `[en-GB, cy-GB]`, or a map tag → `{voice: Polly.Amy}`; the first is the
    language a call starts in."""

    holds_templates = False
    label = "a list of language tags such as [en-GB, cy-GB], or a map tag → {voice: NAME}"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if isinstance(value, list):
            entries: list[tuple[Any, Any]] = [(tag, None) for tag in value]
        elif isinstance(value, dict):
            entries = list(value.items())
        else:
            return self.wrong(value, path, check)
        if not entries:
            return check.error(path, "give at least one language, as in [en-GB, cy-GB]")
        out: list[Language] = []
        bad = False
        for i, (tag, body) in enumerate(entries):
            where = path + ((i,) if isinstance(value, list) else (tag,))
            if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
                check.error(
                    where,
                    f"'{tag}' is not a language tag: language-REGION, as in en-GB or cy-GB",
                    key=isinstance(value, dict),
                )
                bad = True
                continue
            if any(lang.tag == tag for lang in out):
                check.error(where, f"language {tag} is listed twice", key=isinstance(value, dict))
                bad = True
                continue
            voice = _voice(body, where, check)
            if voice is INVALID:
                bad = True
                continue
            out.append(Language(tag, voice))
        # with errors the plan is refused; the languages that are right still check prompts
        return tuple(out) if out or not bad else INVALID

    def schema(self) -> dict[str, Any]:
        tag = {"type": "string", "pattern": f"^{TAG_RE.pattern}$"}
        voice = {
            "type": ["object", "null"],
            "properties": {"voice": {"type": "string"}},
            "additionalProperties": False,
        }
        return {
            "anyOf": [
                {"type": "array", "items": tag, "minItems": 1},
                {
                    "type": "object",
                    "propertyNames": tag,
                    "additionalProperties": voice,
                    "minProperties": 1,
                },
            ]
        }


def _voice(body: Any, where: Path, check: Check) -> Any:
    if body is None:
        return None
    if not isinstance(body, dict) or set(body) - {"voice"}:
        return check.error(where, f"expected {{voice: NAME}}, found {found(body)}")
    voice = body.get("voice")
    if voice is not None and not isinstance(voice, str):
        return check.error(where + ("voice",), f"expected a voice name, found {found(voice)}")
    return voice


class PerLanguage(FieldKind):
    """`inner`, or (in a plan with `languages:`) a map language → `inner` that gives every
    language of the plan."""

    def __init__(self, inner: FieldKind):
        self.inner = inner
        self.holds_templates = inner.holds_templates
        self.label = f"{inner.label}, or a map language → {inner.label}"

    def convert(self, value: Any, path: Path, check: Check) -> Any:
        if not isinstance(value, dict):
            converted = self.inner.convert(value, path, check)
            if converted is not INVALID and len(check.languages) > 1 and _has_words(converted):
                first = check.languages[0]
                check.warning(
                    path,
                    f"one text for every language of the plan ({', '.join(check.languages)}): "
                    f"give one per language, as {{{first}: ..., {check.languages[1]}: ...}}",
                )
            return converted
        declared = check.languages
        if not declared:
            return check.error(
                path,
                "a text per language needs the plan's languages: at the top "
                "(as in languages: [en-GB, cy-GB])",
            )
        texts: dict[str, Any] = {}
        bad = False
        for tag, text in value.items():
            if tag not in declared:
                check.error(
                    path + (tag,),
                    f"'{tag}' is not one of the plan's languages ({', '.join(declared)})"
                    f"{did_you_mean(str(tag), declared)}",
                    key=True,
                )
                bad = True
                continue
            converted = self.inner.convert(text, path + (tag,), check)
            bad = bad or converted is INVALID
            texts[tag] = converted
        missing = [tag for tag in declared if tag not in value]
        if missing:
            check.error(
                path,
                f"no {' or '.join(missing)} text: the plan speaks {', '.join(declared)}, "
                "so each of them needs one",
            )
            bad = True
        if bad:
            return INVALID
        return Localized({tag: texts[tag] for tag in declared})

    def schema(self) -> dict[str, Any]:
        inner = self.inner.schema()
        per_language = {
            "type": "object",
            "propertyNames": {"pattern": f"^{TAG_RE.pattern}$"},
            "additionalProperties": inner,
            "minProperties": 1,
        }
        return {"anyOf": [inner, per_language]}


def _has_words(value: Any) -> bool:
    """Whether a converted value says words of its own (not only placeholders)."""
    if isinstance(value, Template):
        return any(isinstance(part, str) and re.search(r"[^\W\d_]", part) for part in value.parts)
    if isinstance(value, (list, tuple)):
        return any(_has_words(v) for v in value)
    return False


# --- what a caller says ------------------------------------------------------------------

# Digits as words in the languages we ship (Twilio's recognizer mostly writes numerals; a
# caller saying "four two" may still come back as words).
NUMBER_WORDS = {
    "zero": "0", "oh": "0", "nought": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "dim": "0", "un": "1", "dau": "2", "dwy": "2", "tri": "3", "tair": "3",
    "pedwar": "4", "pedair": "4", "pump": "5", "pum": "5", "chwech": "6", "chwe": "6",
    "saith": "7", "wyth": "8", "naw": "9",
    "cero": "0", "uno": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5",
    "seis": "6", "siete": "7", "ocho": "8", "nueve": "9",
}  # fmt: skip
POINT_WORDS = {"point", "pwynt", "punto", "coma"}
# A currency between numbers is a decimal point when an amount is said: "12 pounds 50"
MONEY_WORDS = {"pound", "pounds", "punt", "bunt", "phunt", "punnoedd", "euro", "euros",
               "dollar", "dollars", "libra", "libras"}  # fmt: skip
# Number words the caller may say that are not digits: a number said with them is refused
# (an invalid entry, asked again) rather than read wrong ("twenty five" is not 5).
UNREAD_NUMBERS = {
    "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
    "eighty", "ninety", "hundred", "thousand", "million", "double", "triple",
    "deg", "ddeg", "un-ar-ddeg", "deuddeg", "ugain", "cant", "chant", "mil", "fil",
    "diez", "once", "doce", "veinte", "treinta", "cuarenta", "cincuenta", "cien", "ciento",
}  # fmt: skip
_TOKENS = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+(?:'[^\W\d_]+)*", re.UNICODE)
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})

YES = {"yes", "yeah", "yep", "correct", "right", "ie", "iawn", "cywir", "si"}
NO = {"no", "nope", "wrong", "na", "nage", "naddo", "anghywir"}
NOT = {"not", "isn't", "isnt", "nid", "dyw", "ddim"}  # "that's not right" is a no


def yes_or_no(text: str) -> str:
    """A spoken answer to "if that is right, press 1; to enter it again, press 2": "1" for
    a yes (or "one" alone), "2" for a no (or "two" alone, or a yes word denied: "not
    right"), "" for anything else (asked again)."""
    words = normal(text).split()
    said = set(words)
    if said & NO or (said & NOT and said & YES):
        return "" if said & YES - NOT and not said & NOT else "2"
    if said & YES:
        return "1"
    digits = spoken_digits(text)
    return digits if digits in ("1", "2") and len(words) <= 2 else ""


def normal(text: str) -> str:
    """Words as compared: lower case, accents and punctuation dropped, single spaces
    ("Talu’r cyfan!" is "talu'r cyfan")."""
    folded = unicodedata.normalize("NFKD", text.translate(_QUOTES).lower())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(_TOKENS.findall(plain))


def spoken_digits(text: str, *, decimal: bool = False) -> str:
    """The keys a caller's words stand for: numerals and number words as digits (with
    `decimal`, a decimal point or a currency between numbers as `*`, as keyed); other
    words are dropped. A number said in words that are not digits ("twenty five") gives ""
    (no keys: an invalid entry), never a different number."""
    out: list[str] = []
    tokens = normal(text).split()
    for i, token in enumerate(tokens):
        if token in UNREAD_NUMBERS or any(part in UNREAD_NUMBERS for part in token.split("-")):
            return ""
        if token[0].isdigit():
            whole, sep, rest = token.replace(",", "").partition(".")  # 1,000.50
            out.append(whole + (("*" + rest) if sep and decimal else rest))
        elif token in NUMBER_WORDS:
            out.append(NUMBER_WORDS[token])
        elif decimal and (
            token in POINT_WORDS
            or (token in MONEY_WORDS and out and i + 1 < len(tokens) and "*" not in out)
        ):
            out.append("*")
    return "".join(out)


# --- what the engine itself says ---------------------------------------------------------

# By phrase, then by language (the tag's first part); English when a language is not here.
ENGINE_WORDS = {
    "apology": {
        "en": "Sorry, we cannot continue with your call right now. Please call back later. "
        "Goodbye.",
        "cy": "Mae'n ddrwg gennym, ni allwn barhau â'ch galwad ar hyn o bryd. Ffoniwch eto "
        "yn nes ymlaen. Hwyl fawr.",
        "es": "Lo sentimos, no podemos continuar con su llamada ahora. Vuelva a llamar más "
        "tarde. Adiós.",
    },
    "went_wrong": {
        "en": "Sorry, something went wrong.",
        "cy": "Mae'n ddrwg gennym, aeth rhywbeth o'i le.",
        "es": "Lo sentimos, algo ha fallado.",
    },
    "entered": {
        "en": "You entered {value}. If that is right, press 1. To enter it again, press 2.",
        "cy": "Rydych wedi rhoi {value}. Os yw hynny'n gywir, pwyswch 1. I'w roi eto, pwyswch 2.",
        "es": "Ha introducido {value}. Si es correcto, pulse 1. Para introducirlo de nuevo, "
        "pulse 2.",
    },
}


def engine_words(name: str, language: str, **values: str) -> str:
    """One of the engine's own phrases in `language` (English when it has none there)."""
    texts = ENGINE_WORDS[name]
    text = texts.get(language[:2].lower(), texts["en"])
    return text.format(**values) if values else text
