"""A person at a terminal playing the caller (`ivr call` without --keys): each entry is typed at
the prompt it answers and shown once, letters are refused, keys typed on the payment leg are
hidden and shown masked, and Ctrl-C or Ctrl-D is the caller hanging up."""

from __future__ import annotations

from collections.abc import Callable

import click

from ivr.phone.twilio import Event, KeySource, Spoken, bad_entry

HANG_UP = ("h", "hangup", "hang up", "q")
UP_AND_CLEAR = "\x1b[1A\r\x1b[2K"  # ANSI: cursor up one line, to its start, clear it
HELP = "keys 0-9 * #; Enter: nothing; say WORDS: speak; h or Ctrl-C: hang up"


def masked(entry: str) -> str:
    """Keys typed on the payment leg as the transcript shows them: digits hidden."""
    return "".join("•" if ch.isdigit() else ch for ch in entry)


class Terminal:
    """Asks for each entry when the scripted ones run out; tells the transcript printer which
    events it already showed (what the person typed is on the screen once)."""

    def __init__(self, echo: Callable[[str], None] = click.echo):
        self.echo = echo
        self.source: KeySource | None = None
        self.typed = False  # the last entry came from the keyboard
        self.helped = False

    def keys(self, entries: list[str | Spoken]) -> KeySource:
        self.source = KeySource(entries, self.ask)
        return self.source

    def ask(self, prompt_text: str) -> str | Spoken | None:
        leg = self.source.leg if self.source is not None else 0
        indent = "    " * leg + "  "
        if not self.helped:
            self.echo(f"{indent}({HELP})")
            self.helped = True
        while True:
            try:
                answer = click.prompt(
                    f"{indent}Caller presses",
                    default="",
                    show_default=False,
                    hide_input=leg > 0,  # the payment leg: card details are never echoed
                ).strip()
            except (click.Abort, EOFError, KeyboardInterrupt):
                self.echo("")  # the transcript goes on: "the caller hangs up"
                return None
            if answer.lower() in HANG_UP:
                return None
            if answer.lower().startswith("say "):
                self.typed = False  # the transcript says what was said, and what came of it
                return Spoken(answer[4:].strip())
            problem = bad_entry(answer)
            if problem is not None:
                self.echo(f"{indent}{problem} (to speak, type: say WORDS)")
                continue
            if leg > 0 and answer:  # over the prompt's line: what was keyed, digits hidden
                self.echo(f"{UP_AND_CLEAR}{indent}Caller presses: {masked(answer)}")
            self.typed = True
            return answer or "-"

    def shows(self, event: Event) -> bool:
        """Whether the transcript printer should show `event` (not when the screen has it)."""
        if event.kind in ("keys", "no_input") and self.typed and "says" not in event.text:
            self.typed = False
            return False
        return True
