"""Plans in the console: every plan with its numbers, serving version and checks; one plan
drawn, its YAML and versions; editors check, publish and roll back (the same store and checks
as `ivr plans publish` and `ivr plans rollback`, and audited)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for

from foundation.request_limits import BodyProblem, json_object
from ivr.adapters.plan_store import Candidate, PublishResult
from ivr.console.auth import needs, signed_in, users
from ivr.console.blueprint import bp
from ivr.console.roles import May
from ivr.console.scenario_runs import ScenarioRun
from ivr.console.services import services
from ivr.drawing.graph import edges_of
from ivr.drawing.svg import svg
from ivr.engine.catalog import load_texts
from ivr.errors import PlanNotFound
from ivr.lang.diagnostics import Diagnostic

EDITOR_NAME = "<console>"


def _diagnostics(found: list[Diagnostic]) -> list[dict[str, Any]]:
    return [
        {
            "severity": d.severity,
            "line": d.line,
            "col": d.col,
            "message": d.message,
            "text": d.format(),
        }
        for d in found
    ]


@bp.get("/plans")
@needs(May.VIEW)
def plans() -> Any:
    return render_template("console/plans.html", rows=list(services().serving().values()))


def _serving(plan_id: str) -> Any:
    history = services().plans.history(plan_id)
    if not history:
        abort(404, description=f"There is no plan called {plan_id!r}.")
    return history


@bp.get("/plans/<plan_id>")
@needs(May.VIEW)
def plan(plan_id: str) -> Any:
    history = _serving(plan_id)
    me = signed_in()
    return _plan_page(
        plan_id, history, history[0].content, None, None, 200, bool(me and me.may(May.EDIT))
    )


@bp.get("/plans/<plan_id>/graph.svg")
@needs(May.VIEW)
def plan_graph(plan_id: str) -> Any:
    """The serving version drawn (an image on the plan page; its style is its own)."""
    serving = services().serving().get(plan_id)
    if serving is None or serving.plan is None:
        abort(404)
    answer = Response(svg(serving.plan), mimetype="image/svg+xml")
    answer.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return answer


@bp.post("/plans/<plan_id>/check")
@needs(May.EDIT)
def check_plan(plan_id: str) -> Any:
    """The editor's check as the admin types: JSON {"text"} in, the diagnostics out (line and
    column), as the publish would find them beside the other serving plans."""
    try:
        body = json_object()
    except BodyProblem as exc:
        return jsonify({"error": str(exc)}), 400
    text = body.get("text")
    if not isinstance(text, str):
        return jsonify({"error": 'expected {"text": the plan\'s YAML}'}), 400
    found = services().check(plan_id, text)
    return jsonify(
        {"diagnostics": _diagnostics(found), "ok": not any(d.severity == "error" for d in found)}
    )


@bp.post("/plans/<plan_id>")
@needs(May.EDIT)
def publish_plan(plan_id: str) -> Any:
    """Check (the Check button) or publish (the Publish button) the edited text."""
    history = _serving(plan_id)
    text = request.form.get("text", "").replace("\r\n", "\n")
    message = request.form.get("message", "").strip()[:500]
    me = signed_in()
    assert me is not None
    note = None
    if request.form.get("action") == "publish":
        named = services().plan_id_of(text) if message else None
        if not message:
            note = "Say why in the message: it is kept with the version."
        elif named is not None and named != plan_id:
            note = (
                f"The text says plan: {named}, and this page edits {plan_id}. Keep the id (a "
                "new plan is published from the plans folder or `ivr plans publish`)."
            )
        else:
            result = services().plans.publish(
                [Candidate(EDITOR_NAME, text, f"console by {me.name}")],
                author=me.name,
                message=message,
            )
            if not result.checked.refused:
                return _published(result, plan_id, me.name, "plan.publish", message)
            return _edit_page(
                plan_id, history, text, result.checked.diagnostics,
                "Not published: fix the errors below.", 400,
            )  # fmt: skip
    if request.form.get("action") == "test":
        return _test(plan_id, history, text)
    found = services().check(plan_id, text)
    return _edit_page(plan_id, history, text, found, note, 400 if note else 200)


def _test(plan_id: str, history: list[Any], text: str) -> Any:
    """Run the plan's scenarios against the edited text, beside the other serving plans."""
    runner = services().scenarios
    if runner is None:
        abort(503, description="Scenario runs are not available in this process.")
    others = {pid: s.plan for pid, s in services().serving().items() if pid != plan_id and s.plan}
    loaded = load_texts([(EDITOR_NAME, text)], known=others)
    errors = [d for d in loaded.diagnostics if d.severity == "error"]
    if errors or not loaded.plans:
        return _edit_page(
            plan_id, history, text, loaded.diagnostics,
            "Not run: fix the errors below first.", 400,
        )  # fmt: skip
    edited = loaded.plans[0][0]
    if edited.id != plan_id:
        return _edit_page(
            plan_id, history, text, loaded.diagnostics,
            f"The text says plan: {edited.id}, and this page edits {plan_id}.", 400,
        )  # fmt: skip
    run = runner(plan_id, [edited, *others.values()])
    summary = f"Scenario tests: {run.passed} passed, {run.failed} failed."
    return _plan_page(plan_id, history, text, loaded.diagnostics, summary, 200, True, tests=run)


@bp.post("/plans/<plan_id>/rollback")
@needs(May.EDIT)
def rollback_plan(plan_id: str) -> Any:
    me = signed_in()
    assert me is not None
    try:
        number = int(request.form.get("number", ""))
    except ValueError:
        abort(400, description="Choose the version to serve again.")
    message = request.form.get("message", "").strip()[:500] or f"rollback to v{number}"
    try:
        result = services().plans.rollback(plan_id, number, author=me.name, message=message)
    except PlanNotFound as exc:
        abort(404, description=str(exc))
    if result.checked.refused:
        history = _serving(plan_id)
        return _edit_page(
            plan_id, history, history[0].content, result.checked.diagnostics,
            f"v{number} cannot serve again beside the other plans: see below.", 400,
        )  # fmt: skip
    return _published(result, plan_id, me.name, "plan.rollback", message)


def _published(result: PublishResult, plan_id: str, actor: str, action: str, why: str) -> Any:
    for version in result.published:
        users().audit(actor, action, f"{version.plan_id} v{version.number}", why)
        flash(
            f"Published {version.plan_id} v{version.number}: new calls hear it within "
            "seconds; calls in progress keep their version."
        )
    if not result.published:
        flash("Nothing to publish: that is the version already serving.")
    services().after_publish()
    target = result.published[0].plan_id if result.published else plan_id
    return redirect(url_for("console.plan", plan_id=target))


def _edit_page(
    plan_id: str,
    history: list[Any],
    text: str,
    found: list[Diagnostic],
    note: str | None,
    status: int,
) -> Any:
    """The plan page after a check or a refused publish: the edited text and what was found."""
    errors = any(d.severity == "error" for d in found)
    result = note or ("Errors: see below." if errors else "No errors.")
    return _plan_page(plan_id, history, text, found, result, status, True)


def _plan_page(
    plan_id: str,
    history: list[Any],
    text: str,
    found: list[Diagnostic] | None,
    result: str | None,
    status: int,
    may_edit: bool,
    tests: ScenarioRun | None = None,
) -> Any:
    """The plan page: the serving version drawn, `text` (its YAML, or an edit of it) with the
    diagnostics `found` (the serving version's own when None), the versions."""
    serving = services().serving().get(plan_id)
    drawn = serving.plan if serving is not None else None
    if found is None:
        found = list(serving.diagnostics) if serving is not None else []
    return (
        render_template(
            "console/plan.html",
            plan_id=plan_id,
            serving=history[0],
            history=history,
            plan=drawn,
            routes=edges_of(drawn) if drawn is not None else [],
            text=text,
            diagnostics=_diagnostics(found),
            may_edit=may_edit,
            result=result,
            tests=tests,
        ),
        status,
    )
