"""The operator console (``/console/``): where every sign-out went, in two clicks.

Off unless ``EXEUNT_CONSOLE`` is on (every path then answers 404).  A person signs in as usual; the
console opens only to users granted ``exeunt users grant-operator``, checked on every request (a
role taken back, a user disabled, a session ended: the next click is refused).  The admin token
is for the JSON API only, never for these pages.  Every POST is one of its own forms: same origin,
with a CSRF token bound to the operator's session.  What it shows and does goes through the same
operations as the command line and the admin API.

  GET  /console/                         applications' delivery health (failing now first), recent sign-outs
  GET  /console/people?q=TEXT            find a person (one match: straight to them)
  GET  /console/people/{username}        their sessions, and how each ended
  GET  /console/signouts/{id}            every application a sign-out concerned, and how each was told
  POST /console/signouts/{id}/requeue    queue a given-up notification (or event) of that sign-out again
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exeunt.errors import ApiError, OperatorError
from exeunt.lifecycle import EndReason
from exeunt.operations import deliveries as delivery_operations
from exeunt.operations import delivery_health, signouts
from exeunt.operations import streams as stream_operations
from exeunt.protocol.delivery import DeliveryState
from exeunt.storage import users as user_store
from exeunt.storage.sessions import SessionRecord
from exeunt.storage.users import UserRecord
from exeunt.web import charts
from exeunt.web.errors import NO_STORE, error_page
from exeunt.web.own_forms import read_own_form
from exeunt.web.provider import Provider

CROSS_SITE = "This request was sent from another site, so nothing was changed. Use the console's own page."
IN_BROWSER = (EndReason.USER, EndReason.RP_INITIATED)  # the logged-out page loaded the front-channel iframes
NOT_OPERATOR = (
    "Your account may not use the operator console. An operator can grant it with "
    "`exeunt users grant-operator USERNAME`."
)


async def _operator(request: Request) -> tuple[Provider, SessionRecord, UserRecord] | Response:
    provider = Provider.of(request)
    if not provider.config.console:
        return error_page(request, "Not found", "There is no such page.", 404)
    session = await provider.live_session_ending_overdue(request)
    if session is None:
        return RedirectResponse("/login?then=console", status_code=303, headers=NO_STORE)
    async with provider.db.read() as conn:
        user = await user_store.get(conn, session.user_id)
    if user is None or not user.operator or user.disabled_at is not None:
        return error_page(request, "Not an operator", NOT_OPERATOR, 403)
    return provider, session, user


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value else "–"


def _took(start: datetime, end: datetime | None) -> str:
    if end is None:
        return "–"
    seconds = (end - start).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.0f} s"


def _render(provider: Provider, request: Request, template: str, user: UserRecord, **context: object) -> Response:
    return provider.templates.TemplateResponse(
        request, template, {"operator": user.username, "when": _when, "took": _took, **context}, headers=NO_STORE
    )


async def overview(request: Request) -> Response:
    checked = await _operator(request)
    if isinstance(checked, Response):
        return checked
    provider, _, user = checked
    health = await delivery_health.recent(provider.db, now=provider.now())
    charted = [{"health": h, "bars": charts.hourly_bars(h.hours), "line": charts.latency_line(h.hours)} for h in health]
    recent = await signouts.recent(provider.db)
    return _render(
        provider,
        request,
        "console_overview.html",
        user,
        applications=charted,
        hours=delivery_health.HOURS,
        recent=recent,
        chart={"width": charts.WIDTH, "height": charts.HEIGHT},
    )


async def people(request: Request) -> Response:
    checked = await _operator(request)
    if isinstance(checked, Response):
        return checked
    provider, _, user = checked
    query = request.query_params.get("q", "")
    found = await signouts.find_people(provider.db, query)
    if len(found) == 1:
        return RedirectResponse(f"/console/people/{quote(found[0].username, safe='')}", 303, headers=NO_STORE)
    return _render(provider, request, "console_people.html", user, query=query, found=found)


async def person(request: Request) -> Response:
    checked = await _operator(request)
    if isinstance(checked, Response):
        return checked
    provider, _, user = checked
    try:
        found = await signouts.person(provider.db, provider.config, request.path_params["username"], now=provider.now())
    except OperatorError:
        return error_page(request, "No such person", "No user has that name. Search again from the console.", 404)
    return _render(provider, request, "console_person.html", user, person=found)


async def signout(request: Request) -> Response:
    checked = await _operator(request)
    if isinstance(checked, Response):
        return checked
    provider, session, user = checked
    try:
        found = await signouts.report(provider.db, request.path_params["signout_id"])
    except OperatorError:
        return error_page(request, "No such sign-out", "There is no sign-out with that id.", 404)
    async with provider.db.read() as conn:
        people = await user_store.by_subs(conn, [found.signout.sub])
    by_client = {d.client_id: d for d in found.deliveries}
    return _render(
        provider,
        request,
        "console_signout.html",
        user,
        report=found,
        person=people.get(found.signout.sub),
        applications=[(p, by_client.get(p.client_id)) for p in found.signout.participants],
        csrf=provider.csrf("console", session.sid),
        done=request.query_params.get("done"),
        given_up=DeliveryState.GIVEN_UP,
        in_browser=found.signout.reason in IN_BROWSER,
    )


async def requeue(request: Request) -> Response:
    """Queue one given-up back-channel notification (``delivery``) or Shared Signals event (``event``)
    of this sign-out again: the same call as ``exeunt deliveries retry ID`` / ``exeunt events retry ID``."""
    checked = await _operator(request)
    if isinstance(checked, Response):
        return checked
    provider, session, _ = checked
    form = await read_own_form(request, refused="Request refused", cross_site=CROSS_SITE)
    if isinstance(form, Response):
        return form
    if not provider.csrf_ok("console", session.sid, form.get("csrf")):
        return error_page(request, "Page expired", "This page is too old; nothing was changed. Open it again.", 400)
    signout_id = request.path_params["signout_id"]
    try:
        found = await signouts.report(provider.db, signout_id)
    except OperatorError:
        return error_page(request, "No such sign-out", "There is no sign-out with that id.", 404)
    delivery, event = form.get("delivery", ""), form.get("event", "")
    mine_delivery = {str(d.id): d.id for d in found.deliveries if d.state is DeliveryState.GIVEN_UP}
    mine_event = {str(e.id): e.id for e in found.events if e.state is DeliveryState.GIVEN_UP}
    try:
        if delivery in mine_delivery:
            await delivery_operations.requeue_deliveries(
                provider.db, delivery_id=mine_delivery[delivery], now=provider.now()
            )
        elif event in mine_event:
            await stream_operations.requeue(provider.runtime, event_id=mine_event[event])
        else:
            return error_page(request, "Nothing to retry", "That notification is not given up (any more).", 409)
    except (OperatorError, ApiError):  # retried meanwhile by someone else
        return error_page(request, "Nothing to retry", "That notification is not given up (any more).", 409)
    provider.runtime.outbox_changed()  # this process's worker takes it at once
    return RedirectResponse(f"/console/signouts/{signout_id}?done=requeued", 303, headers=NO_STORE)
