"""Hot reload of call plans: in process (System + PlanWatcher) and through a real `ivr serve`.

Contract (callplan-spec "Run-time rules", ivr/tools/server.py): a valid edit replaces the old
version for new calls; a call in progress keeps the version it started with; a plan with errors is
refused, its diagnostics (FILE:LINE:COL) are logged, and the previous version keeps serving.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
import yaml

from ivr.adapters.records_sql import SqlRecorder
from ivr.app.fleet import PlanWatcher
from ivr.app.settings import Settings
from ivr.app.system import System, build_system
from ivr.errors import PlanNotFound
from tests.conftest import PLANS, ROOT, Clock, free_port
from tests.driver import CallDriver

NUMBER = "+441000000301"
ADDED_NUMBER = "+441000000302"
CALLER = "+447700900123"
PROMPT = "Reload test, version {}. Press 1."
BYE = "Goodbye from version {}."
ADDED_HELLO = "Hello from the added plan."

# Broken edits of tests/plans/reload_line.yaml: (old text, new text, message the error carries).
BROKEN = {
    "yaml_syntax": (
        'prompt: "Reload test, version one. Press 1."',
        'prompt: "Reload test, version broken. Press 1.',
        "YAML syntax",
    ),
    "unknown_applet_type": ("type: hangup", "type: hangupp", "unknown applet type 'hangupp'"),
}


# --- helpers -------------------------------------------------------------------------------


def write_plan(path: Path, text: str) -> None:
    """Write `text` as an operator's editor would; make sure the change is visible in the
    file's mtime (an edit landing in the same timestamp tick is tested on its own below)."""
    before = path.stat().st_mtime_ns if path.exists() else None
    path.write_text(text, encoding="utf-8")
    while path.stat().st_mtime_ns == before:
        time.sleep(0.005)
        path.write_text(text, encoding="utf-8")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    write_plan(path, text.replace(old, new))


def set_version(path: Path, version: str) -> None:
    """Rewrite the two texts of reload_line.yaml to say `version`."""
    text = (PLANS / "reload_line.yaml").read_text(encoding="utf-8")
    write_plan(path, text.replace("version one", f"version {version}"))


def position_of(path: Path, needle: str) -> tuple[int, int]:
    """1-based line and column of `needle` in the file."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(f"{needle!r} not in {path}")


def diagnostic_re(path: Path, line: int | None = None, col: int | None = None) -> str:
    where = f"{line}:{col}" if line is not None else r"\d+:\d+"
    return rf"{re.escape(str(path))}:{where}: error: "


# --- in process ----------------------------------------------------------------------------


@dataclass
class Rig:
    system: System
    watcher: PlanWatcher
    folder: Path
    calls: int = 0

    @property
    def plan(self) -> Path:
        return self.folder / "reload_line.yaml"

    def version(self, plan_id: str = "reload_line") -> str:
        return self.system.catalog.current(plan_id).version

    def call(self, called: str = NUMBER) -> CallDriver:
        self.calls += 1
        return CallDriver(self.system.engine, f"CA{self.calls:032d}", caller=CALLER, called=called)


@pytest.fixture
def rig(tmp_path: Path, clock: Clock) -> Iterator[Rig]:
    folder = tmp_path / "callplans"
    folder.mkdir()
    shutil.copy(PLANS / "reload_line.yaml", folder / "reload_line.yaml")
    settings = Settings(callplans=folder, database_url=f"sqlite:///{tmp_path}/calls.sqlite3")
    system = build_system(settings, clock=clock)
    try:
        yield Rig(system, PlanWatcher(system), folder)
    finally:
        system.recorder.close()


def test_no_change_no_reload(rig: Rig) -> None:
    assert rig.watcher.check() is False
    assert rig.system.catalog.plan_ids == ["reload_line"]


def test_call_in_progress_keeps_its_version_new_calls_get_the_edit(rig: Rig) -> None:
    old_version = rig.version()
    first = rig.call()
    assert first.gather.prompts and first.heard == [PROMPT.format("one")]
    assert first.session.plan_version == old_version

    set_version(rig.plan, "two")
    assert rig.watcher.check() is True
    new_version = rig.version()
    assert new_version != old_version

    second = rig.call()
    assert second.heard == [PROMPT.format("two")]
    assert second.session.plan_version == new_version

    # the first call's next turns still run the version it started with
    first.press("9")
    assert first.heard == ["Not an option.", PROMPT.format("one")]
    assert first.session.plan_version == old_version
    first.press("1")
    assert first.ended and first.heard == [BYE.format("one")]
    second.press("1")
    assert second.ended and second.heard == [BYE.format("two")]

    records = {r.call_sid: r for r in rig.system.recorder.recent()}
    assert records[first.call_sid].plan_version == old_version
    assert records[second.call_sid].plan_version == new_version
    assert [s.applet for s in records[first.call_sid].path] == ["ask", "bye"]


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_edit_is_refused_and_logged_old_version_serves(
    rig: Rig, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    set_version(rig.plan, "two")
    assert rig.watcher.check() is True
    good = rig.version()
    waiting = rig.call()  # started on "two", still at the menu during the broken edit

    old, new, message = BROKEN[kind]
    edit(rig.plan, old.replace("one", "two"), new)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert rig.watcher.check() is True

    errors = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name.startswith("ivr")
    ]
    if kind == "unknown_applet_type":
        line, col = position_of(rig.plan, "hangupp")
        expected = diagnostic_re(rig.plan, line, col)
    else:
        expected = diagnostic_re(rig.plan)
    assert any(re.match(expected, e) and message in e for e in errors), errors
    assert rig.system.last_load is not None
    assert str(rig.plan) in rig.system.last_load.refused

    assert rig.version() == good
    after = rig.call()
    assert after.heard == [PROMPT.format("two")]
    after.press("1")
    assert after.heard == [BYE.format("two")]
    waiting.press("1")
    assert waiting.heard == [BYE.format("two")]

    # fixed: the next reload serves the new version
    set_version(rig.plan, "three")
    assert rig.watcher.check() is True
    assert rig.version() != good
    fixed = rig.call()
    assert fixed.heard == [PROMPT.format("three")]


def test_added_plan_file_is_picked_up(rig: Rig) -> None:
    with pytest.raises(PlanNotFound):
        rig.call(ADDED_NUMBER)
    shutil.copy(PLANS / "reload_added.yaml", rig.folder / "reload_added.yaml")
    assert rig.watcher.check() is True
    assert rig.system.catalog.plan_ids == ["reload_added", "reload_line"]
    call = rig.call(ADDED_NUMBER)
    assert call.ended and call.heard == [ADDED_HELLO]
    # the other plan is unaffected
    assert rig.call().heard == [PROMPT.format("one")]


def test_added_plan_in_a_subfolder_is_picked_up(rig: Rig) -> None:
    sub = rig.folder / "team_b"
    sub.mkdir()
    shutil.copy(PLANS / "reload_added.yaml", sub / "reload_added.yaml")
    assert rig.watcher.check() is True
    assert rig.call(ADDED_NUMBER).heard == [ADDED_HELLO]


def test_removed_plan_file_keeps_serving_its_loaded_version(rig: Rig) -> None:
    # Decision (documented): reload only adds or replaces plans, it never drops one. Removing
    # or renaming a file (a deploy in progress, a mistaken `rm`) must not leave a number
    # unanswered mid-day; the plan goes away at the next restart. Calls in progress finish.
    added = rig.folder / "reload_added.yaml"
    shutil.copy(PLANS / "reload_added.yaml", added)
    assert rig.watcher.check() is True
    waiting = rig.call()
    version = rig.version()

    added.unlink()
    rig.plan.unlink()
    assert rig.watcher.check() is True
    assert rig.system.catalog.plan_ids == ["reload_added", "reload_line"]
    assert rig.version() == version
    assert rig.call(ADDED_NUMBER).heard == [ADDED_HELLO]
    assert rig.call().heard == [PROMPT.format("one")]
    waiting.press("1")
    assert waiting.heard == [BYE.format("one")]

    # putting the file back (edited) replaces it as usual
    set_version(rig.plan, "four")
    assert rig.watcher.check() is True
    assert rig.call().heard == [PROMPT.format("four")]


def test_edit_within_the_same_timestamp_tick_is_seen(rig: Rig) -> None:
    """Filesystems with coarse timestamps (ext4 ticks of a few ms, NFS/SMB/FAT 1-2 s) give an
    edit made right after a reload the same mtime as before. The edit must still be seen."""
    set_version(rig.plan, "two")
    assert rig.watcher.check() is True
    stamp = rig.plan.stat().st_mtime_ns
    set_version(rig.plan, "three, a longer text")
    os.utime(rig.plan, ns=(stamp, stamp))
    assert rig.watcher.check() is True, "an edit with an unchanged mtime was not reloaded"
    assert rig.call().heard == [PROMPT.format("three, a longer text")]


def test_watcher_thread_survives_a_failed_reload(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """One reload that raises (a folder vanishing under rglob, a file removed between listing
    and stat, a compiler bug) must not end hot reload for the life of the process."""
    real = rig.system.sync_plans
    calls: list[int] = []

    def flaky() -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise FileNotFoundError("callplans/gone.yaml")
        return real()

    monkeypatch.setattr(rig.system, "sync_plans", flaky)
    failures: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    watcher = PlanWatcher(rig.system, interval=0.02)
    watcher.start()
    try:
        with logged("ivr.plans", "following the published plans failed") as failed:
            set_version(rig.plan, "two")
            assert failed.wait(5), "the watcher never reported the failed reload"
        set_version(rig.plan, "three")
        reloaded = eventually(lambda: rig.call().heard == [PROMPT.format("three")], timeout=2)
    finally:
        watcher.stop.set()
        watcher.join(timeout=2)
    assert not failures, f"the watcher thread died on a failed reload: {failures[0].exc_value!r}"
    assert reloaded, "the edit after a failed reload was never loaded"


@contextmanager
def logged(logger: str, text: str) -> Iterator[threading.Event]:
    """An event set when `logger` logs a message containing `text` (from any thread)."""
    seen = threading.Event()

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if text in record.getMessage():
                seen.set()

    spy = Spy()
    target = logging.getLogger(logger)
    target.addHandler(spy)
    try:
        yield seen
    finally:
        target.removeHandler(spy)


def eventually(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    if not eventually(predicate, timeout):
        raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")


# --- a real `ivr serve` ----------------------------------------------------------------------


IVR = Path(sys.executable).parent / "ivr"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    folder: Path
    calls: int = 0
    tag: str = field(default_factory=lambda: f"{os.getpid()}{time.monotonic_ns()}"[-12:])

    @property
    def plan(self) -> Path:
        return self.folder / "reload_line.yaml"

    def stderr(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def start_call(self, called: str = NUMBER) -> tuple[str, list[str], str | None]:
        """POST /voice as Twilio does: (call sid, what the caller hears, Gather action URL)."""
        self.calls += 1
        sid = f"CA{self.tag}{self.calls:020d}"
        return (sid, *self.post("/voice", sid, To=called))

    def press(self, sid: str, action: str | None, digits: str) -> tuple[list[str], str | None]:
        assert action, "the call is not waiting for keys"
        return self.post(action, sid, Digits=digits, FinishedOnKey="")

    def post(self, path: str, sid: str, **extra: str) -> tuple[list[str], str | None]:
        form = {
            "CallSid": sid,
            "From": CALLER,
            "To": NUMBER,
            "AccountSid": "AC" + "0" * 32,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            **extra,
        }
        reply = requests.post(urljoin(self.url, path), data=form, timeout=5)
        assert reply.status_code == 200, reply.text
        root = ET.fromstring(reply.text)
        gather = root.find("Gather")
        heard = [e.text or "" for e in root.iter("Say")]
        return heard, gather.get("action") if gather is not None else None

    def hang_up(self, sid: str) -> None:
        form = {
            "CallSid": sid,
            "From": CALLER,
            "To": NUMBER,
            "CallStatus": "completed",
            "CallDuration": "10",
            "AccountSid": "AC" + "0" * 32,
        }
        reply = requests.post(urljoin(self.url, "/voice/status"), data=form, timeout=5)
        assert reply.status_code in (200, 204)

    def new_call_hears(self, text: str) -> bool:
        sid, heard, _ = self.start_call()
        self.hang_up(sid)
        return heard == [text]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `ivr serve` on a free port with a config.yaml in tmp_path; always terminated."""
    started: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(*, watch_plans: bool, name: str = "server", copies: int = 0) -> Server:
        home = tmp_path / name
        folder = home / "callplans"
        folder.mkdir(parents=True)
        shutil.copy(PLANS / "reload_line.yaml", folder / "reload_line.yaml")
        text = (PLANS / "reload_line.yaml").read_text(encoding="utf-8")
        for i in range(copies):  # more plans: a reload that takes long enough to overlap
            (folder / f"copy_{i}.yaml").write_text(
                text.replace("plan: reload_line", f"plan: copy_{i}").replace(
                    NUMBER, f"+44200000{i:04d}"
                ),
                encoding="utf-8",
            )
        config = home / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "callplans": "callplans",
                    "store": "memory://",
                    "database": f"sqlite:///{home}/calls.sqlite3",
                    "watch_plans": watch_plans,
                    "log_level": "INFO",
                }
            ),
            encoding="utf-8",
        )
        port = free_port()
        log = home / "stderr.log"
        out = log.open("wb")
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in (
                "TWILIO_AUTH_TOKEN",
                "IVR_CONFIG",
                "IVR_STORE_URL",
                "IVR_DATABASE_URL",
                "IVR_PUBLIC_URL",
            )
        }
        proc = subprocess.Popen(
            [
                str(IVR),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--config",
                str(config),
            ],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        started.append((proc, out))
        server = Server(f"http://127.0.0.1:{port}", proc, log, folder)
        deadline = time.monotonic() + 10
        while True:
            try:
                health = requests.get(f"{server.url}/health", timeout=1)
                if health.status_code == 200:
                    assert len(health.json()["plans"]) == 1 + copies
                    return server
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"ivr serve did not start:\n{server.stderr()}")
            time.sleep(0.05)

    yield start
    for proc, out in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        out.close()


def test_serve_watches_plans(serve: Callable[..., Server]) -> None:
    server = serve(watch_plans=True)
    sid, heard, action = server.start_call()
    assert heard == [PROMPT.format("one")] and action

    set_version(server.plan, "two")
    wait_for(lambda: server.new_call_hears(PROMPT.format("two")))
    assert "call plans changed; reloading" in server.stderr()

    # the call that started before the edit finishes on the old version
    heard, action = server.press(sid, action, "1")
    assert heard == [BYE.format("one")] and action is None
    server.hang_up(sid)

    sid2, heard, action2 = server.start_call()
    assert heard == [PROMPT.format("two")]
    assert server.press(sid2, action2, "1")[0] == [BYE.format("two")]
    server.hang_up(sid2)

    # a broken edit: refused, logged with FILE:LINE:COL, the old version keeps serving
    edit(server.plan, "type: hangup", "type: hangupp")
    line, col = position_of(server.plan, "hangupp")
    pattern = diagnostic_re(server.plan, line, col) + r"applets\.bye\.type: unknown applet type"
    wait_for(lambda: re.search(pattern, server.stderr()) is not None)
    assert re.search(r" ERROR ivr\.system: " + pattern, server.stderr())
    assert server.new_call_hears(PROMPT.format("two"))

    # a new plan file is picked up
    shutil.copy(PLANS / "reload_added.yaml", server.folder / "reload_added.yaml")
    wait_for(
        lambda: (
            requests.get(f"{server.url}/health", timeout=1).json()["plans"]
            == ["reload_added", "reload_line"]
        )
    )
    heard = server.start_call(ADDED_NUMBER)[1]
    assert heard == [ADDED_HELLO]

    recorder = SqlRecorder(f"sqlite:///{server.folder.parent}/calls.sqlite3")
    try:
        first, second = recorder.find(sid), recorder.find(sid2)
        assert first is not None and second is not None
        assert first.plan_version != second.plan_version
        assert first.outcome == second.outcome == "ReloadDone"
    finally:
        recorder.close()


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_serve_reloads_on_sighup(serve: Callable[..., Server]) -> None:
    server = serve(watch_plans=False)
    sid, heard, action = server.start_call()
    assert heard == [PROMPT.format("one")]

    set_version(server.plan, "two")
    time.sleep(1.3)  # longer than the watcher's interval: with watch_plans: false, no reload
    assert server.new_call_hears(PROMPT.format("one"))

    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: server.new_call_hears(PROMPT.format("two")))
    assert server.press(sid, action, "1")[0] == [BYE.format("one")]

    edit(
        server.plan,
        'prompt: "Reload test, version two. Press 1."',
        'prompt: "Reload test, version broken. Press 1.',
    )
    server.proc.send_signal(signal.SIGHUP)
    pattern = diagnostic_re(server.plan) + "YAML syntax"
    wait_for(lambda: re.search(pattern, server.stderr()) is not None)
    assert server.new_call_hears(PROMPT.format("two"))
    assert server.proc.poll() is None


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_serve_survives_sighups_in_quick_succession(serve: Callable[..., Server]) -> None:
    """`systemctl reload` twice, or a deploy script signalling after each file: a SIGHUP that
    arrives while the previous one is still reloading must not hang the server."""
    server = serve(watch_plans=False, copies=120)
    set_version(server.plan, "two")
    server.proc.send_signal(signal.SIGHUP)
    time.sleep(0.02)  # the second signal lands while the first reload runs (120 plans: tens of ms)
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: server.new_call_hears(PROMPT.format("two")))
    try:
        health = requests.get(f"{server.url}/health", timeout=2)
    except requests.Timeout:
        pytest.fail("the server stopped answering after two SIGHUPs in quick succession")
    assert health.status_code == 200
    assert server.new_call_hears(PROMPT.format("two"))


@pytest.mark.parametrize("bomb", ["alias_bomb", "depth_bomb", "oversized_file"])
def test_a_hostile_file_in_the_folder_is_refused_and_the_rest_serve(
    rig: Rig, caplog: pytest.LogCaptureFixture, bomb: str
) -> None:
    """An alias bomb, a depth bomb or an oversized file dropped into a running server's plans
    folder: refused with its own error, quickly, and every other plan keeps serving."""
    shutil.copy(ROOT / "tests" / "callplans" / "bad" / f"{bomb}.yaml", rig.folder)
    set_version(rig.plan, "two")
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        assert rig.watcher.check() is True
    assert time.monotonic() - started < 1.0
    refused = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(f"{bomb}.yaml" in line and ": error: " in line for line in refused), refused
    assert rig.system.catalog.plan_ids == ["reload_line"]
    call = rig.call()
    assert call.heard == [PROMPT.format("two")]  # the valid edit beside it was taken
