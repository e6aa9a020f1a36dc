"""Plans in a fleet (operations.md): gunicorn with two workers on Redis and one database. A plan
file edit reaches every worker within 5 s while a call started before it finishes on the old
version; a broken edit is refused, logged at most once per process, and every call keeps being
served by the previous version; `ivr plans publish` and `rollback` reach every worker too."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
import yaml

from tests.conftest import ROOT
from tests.test_auth_http import BIN, Server, environment

NUMBER = "+441000000301"
CALLER = "+447700900123"
PROMPT = "Reload test, version {}. Press 1."
BYE = "Goodbye from version {}."
FOLLOW_WITHIN = 5.0


class Fleet(Server):
    """gunicorn, two sync workers, with an access log that names the worker (its PID);
    `shipped`: with the repository's gunicorn.conf.py and the app loaded before the fork."""

    shipped = False

    def command(self) -> list[str]:
        conf = ["-c", str(ROOT / "gunicorn.conf.py"), "--preload"] if self.shipped else []
        return [
            str(BIN / "gunicorn"),
            *conf,
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{self.port}",
            "--access-logfile",
            "-",
            "--access-logformat",
            "ACCESS pid=%(p)s %(m)s %(U)s %(s)s",
            "ivr.app:create_app()",
        ]

    calls = 0

    def voice(self, path: str, **form: str) -> ET.Element:
        answer = requests.post(self.url + path, data=form, timeout=10)
        assert answer.status_code == 200, answer.text
        return ET.fromstring(answer.text)

    def start_call(self) -> tuple[str, str, str]:
        """(call sid, what the caller hears first, the Gather's action URL)."""
        Fleet.calls += 1
        sid = f"CA{time.monotonic_ns():020d}{Fleet.calls:012d}"
        twiml = self.voice("/voice", CallSid=sid, From=CALLER, To=NUMBER, CallStatus="in-progress")
        said = " ".join(s.text or "" for s in twiml.iter("Say"))
        gather = twiml.find("Gather")
        assert gather is not None, ET.tostring(twiml)
        return sid, said, gather.get("action", "")

    def press(self, sid: str, action: str, digits: str) -> str:
        path = action.replace(self.url, "") if action.startswith("http") else action
        twiml = self.voice(path, CallSid=sid, From=CALLER, To=NUMBER, Digits=digits)
        return " ".join(s.text or "" for s in twiml.iter("Say"))

    def whole_call(self) -> str:
        """A call that hears version one, presses 1, hangs up and gets its status callback."""
        sid, said, action = self.start_call()
        assert said == PROMPT.format("one")
        assert self.press(sid, action, "1") == BYE.format("one")
        done = requests.post(
            self.url + "/voice/status",
            data={
                "CallSid": sid,
                "From": CALLER,
                "To": NUMBER,
                "CallStatus": "completed",
                "CallDuration": "12",
            },
            timeout=10,
        )
        assert done.status_code == 204
        return sid

    def workers_seen(self, since: int) -> set[str]:
        """The PIDs that answered POST /voice in the log after byte `since`."""
        text = self.log.read_text(errors="replace")[since:]
        return set(re.findall(r"ACCESS pid=<?(\d+)>? POST /voice 200", text))


def fleet_config(tmp_path: Path, redis_url: str) -> Path:
    """A config for a fleet on Redis and one SQLite database, serving reload_line.yaml."""
    redis.Redis.from_url(redis_url).flushdb()
    plans = tmp_path / "callplans"
    plans.mkdir()
    shutil.copy(ROOT / "tests" / "plans" / "reload_line.yaml", plans / "reload_line.yaml")
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "callplans": str(plans),
                "store": redis_url,
                "database": f"sqlite:///{tmp_path}/ivr.sqlite3",
                "pci": {"enabled": False},
            }
        ),
        encoding="utf-8",
    )
    return config


@pytest.fixture(params=["plain", "gunicorn.conf.py --preload"])
def fleet(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Fleet]:
    config = fleet_config(tmp_path, redis_url)
    server = Fleet("gunicorn", config, tmp_path / "server.log")
    server.shipped = request.param != "plain"
    server.start()
    try:
        yield server
    finally:
        server.stop()


def set_version(fleet: Fleet, version: str) -> None:
    plan = Path(yaml.safe_load(fleet.config.read_text())["callplans"]) / "reload_line.yaml"
    text = (ROOT / "tests" / "plans" / "reload_line.yaml").read_text(encoding="utf-8")
    plan.write_text(text.replace("version one", f"version {version}"), encoding="utf-8")


def twenty_calls_hear(fleet: Fleet, version: str) -> tuple[bool, set[str]]:
    """Twenty consecutive new calls: do they all hear `version`? And which workers answered."""
    mark = len(fleet.log.read_text(errors="replace"))
    heard = [fleet.start_call()[1] for _ in range(20)]
    time.sleep(0.2)  # the access log line is written after the answer is sent
    return all(h == PROMPT.format(version) for h in heard), fleet.workers_seen(mark)


def until(predicate: object, timeout: float) -> float:
    """Seconds until predicate() held; fails after `timeout`."""
    started = time.monotonic()
    while not predicate():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            pytest.fail(f"not within {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - started


def test_an_edit_reaches_both_workers_within_5_s_and_a_call_keeps_its_version(
    fleet: Fleet,
) -> None:
    sid, said, action = fleet.start_call()
    assert said == PROMPT.format("one")

    edited = time.monotonic()
    set_version(fleet, "two")
    workers: set[str] = set()

    def all_new() -> bool:
        ok, seen = twenty_calls_hear(fleet, "two")
        workers.update(seen)
        return ok

    took = until(all_new, FOLLOW_WITHIN + 5)  # the 20 calls themselves take a moment
    assert took < FOLLOW_WITHIN, f"the edit took {took:.1f} s to reach a worker"
    # Twenty calls in a row may all have gone to one worker: by FOLLOW_WITHIN after the edit
    # every worker has it (a little slack for a busy machine), and every call hears it.
    time.sleep(max(0.0, FOLLOW_WITHIN + 0.5 - (time.monotonic() - edited)))
    workers = set()  # only workers seen answering with the edit count from here
    for _ in range(20):  # the kernel hands connections out as it likes: until both answered
        ok, seen = twenty_calls_hear(fleet, "two")
        assert ok
        workers |= seen
        if len(workers) == 2:
            break
    assert len(workers) == 2, "the calls did not reach both workers"

    # the call that started before the edit finishes on the version it started on
    assert fleet.press(sid, action, "1") == BYE.format("one")

    # a broken edit: refused, logged at most once per process, version two keeps serving
    plan = Path(yaml.safe_load(fleet.config.read_text())["callplans"]) / "reload_line.yaml"
    plan.write_text(plan.read_text().replace("type: hangup", "type: hangupp"), encoding="utf-8")
    time.sleep(FOLLOW_WITHIN)
    ok, _ = twenty_calls_hear(fleet, "two")
    assert ok
    log = fleet.log.read_text(errors="replace")
    refusals = re.findall(r"ERROR ivr\.system: .*reload_line\.yaml:\d+:\d+: error: .*hangupp", log)
    assert 1 <= len(refusals) <= 2, refusals
    assert "Traceback" not in log


def test_publish_and_rollback_from_the_cli_reach_every_worker(fleet: Fleet, tmp_path: Path) -> None:
    edited = tmp_path / "reload_line_three.yaml"
    text = (ROOT / "tests" / "plans" / "reload_line.yaml").read_text(encoding="utf-8")
    edited.write_text(text.replace("version one", "version three"), encoding="utf-8")
    env = environment(IVR_CONFIG=str(fleet.config))

    def ivr(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "ivr"), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    published = ivr("plans", "publish", str(edited), "-m", "version three", "--author", "alice")
    assert published.returncode == 0, published.stderr
    assert "published reload_line v2" in published.stdout
    until(lambda: twenty_calls_hear(fleet, "three")[0], FOLLOW_WITHIN)

    listed = ivr("plans")
    assert re.search(r"reload_line\s+v2/2 .* alice .*version three", listed.stdout), listed.stdout

    back = ivr("plans", "rollback", "reload_line", "-m", "three was wrong")
    assert back.returncode == 0, back.stderr
    assert "published reload_line v3" in back.stdout
    until(lambda: twenty_calls_hear(fleet, "one")[0], FOLLOW_WITHIN)

    # a restart republishes nothing that has not changed: the rollback stands
    fleet.stop()
    fleet.start()
    assert twenty_calls_hear(fleet, "one")[0]
    history = ivr("plans", "history", "reload_line")
    assert len(re.findall(r"^v\d+ ", history.stdout, re.M)) == 3, history.stdout
