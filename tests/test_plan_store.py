"""Published plan versions (ivr/adapters/plan_store.py) on SQLite and PostgreSQL: immutable
versions, the newest serves, rollback republishes, every publish checked with the plans it
will serve beside, concurrent publishers never store one content twice."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ivr.adapters.plan_store import Candidate, PlanStore
from ivr.errors import PlanNotFound
from tests.conftest import ROOT

PLANS = ROOT / "tests" / "plans"
LINE = (PLANS / "reload_line.yaml").read_text(encoding="utf-8")
FROM = (PLANS / "route_goto_from.yaml").read_text(encoding="utf-8")
TARGET = (PLANS / "route_goto_target.yaml").read_text(encoding="utf-8")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> PlanStore:
    url = (
        f"sqlite:///{tmp_path}/plans.sqlite3"
        if request.param == "sqlite"
        else request.getfixturevalue("postgresql_url")
    )
    made = PlanStore(url)
    request.addfinalizer(made.close)
    return made


def offer(store: PlanStore, text: str, name: str = "a.yaml", who: str = "ann") -> list[str]:
    result = store.publish([Candidate(name, text, name)], author=who, message="why")
    return [f"{v.plan_id} v{v.number}" for v in result.published] + [
        f"refused {n}" for n in result.checked.refused
    ]


def test_versions_are_numbered_the_newest_serves_and_rollback_republishes(
    store: PlanStore,
) -> None:
    assert store.marker() == 0 and store.serving() == []
    assert offer(store, LINE) == ["reload_line v1"]
    assert offer(store, LINE) == []  # the same content: nothing new
    assert offer(store, LINE.replace("version one", "version two"), who="bob") == ["reload_line v2"]
    [serving] = store.serving()
    assert (serving.number, serving.author, serving.message) == (2, "bob", "why")
    assert "version two" in serving.content
    back = store.rollback("reload_line", 1, author="cat", message="two was wrong")
    assert [v.number for v in back.published] == [3]
    [serving] = store.serving()
    assert serving.content == LINE and serving.version == store.history("reload_line")[-1].version
    assert [v.number for v in store.history("reload_line")] == [3, 2, 1]
    assert store.content("reload_line", serving.version) == LINE
    with pytest.raises(PlanNotFound, match="plan 'reload_line' has no version 9 \\(it has v1"):
        store.rollback("reload_line", 9, author="cat", message="")


def test_a_broken_plan_is_refused_and_nothing_is_stored(store: PlanStore) -> None:
    result = store.publish(
        [Candidate("bad.yaml", LINE.replace("type: hangup", "type: hangupp"), "bad.yaml")],
        author="ann",
        message="oops",
    )
    assert result.checked.refused == ["bad.yaml"] and not result.published
    assert any("unknown applet type 'hangupp'" in d.message for d in result.checked.errors)
    assert store.marker() == 0


def test_a_publish_that_would_break_a_serving_plan_is_refused(store: PlanStore) -> None:
    assert offer(store, TARGET, "target.yaml") == ["route_goto_target v1"]
    assert offer(store, FROM, "from.yaml") == ["route_goto_from v1"]
    # the target without the applet the other plan jumps to
    without = TARGET.replace("    next: middle", "    next: gone").replace("  middle:", "  gone:")
    assert offer(store, without, "target.yaml") == ["refused target.yaml"]
    assert store.serving()[1].number == 1  # route_goto_target still serves v1


def test_a_goto_to_a_plan_that_is_not_served_is_refused(store: PlanStore) -> None:
    assert offer(store, FROM, "from.yaml") == ["refused from.yaml"]
    both = store.publish(
        [Candidate("from.yaml", FROM, "f"), Candidate("target.yaml", TARGET, "t")],
        author="ann",
        message="together",
    )
    assert sorted(v.plan_id for v in both.published) == ["route_goto_from", "route_goto_target"]


def test_concurrent_publishers_store_one_content_once(store: PlanStore) -> None:
    edited = LINE.replace("version one", "version race")
    offer(store, LINE)
    barrier = threading.Barrier(4)

    def publisher() -> None:
        barrier.wait()
        offer(store, edited)

    threads = [threading.Thread(target=publisher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [v.number for v in store.history("reload_line")] == [2, 1]


def test_one_lease_holder_at_a_time(store: PlanStore) -> None:
    assert store.take_lease("plans-folder", "host-a", 30)
    assert not store.take_lease("plans-folder", "host-b", 30)
    assert store.take_lease("plans-folder", "host-a", 30)  # renewed by its holder
    assert store.take_lease("other", "host-b", 30)
