"""A Shared Signals stream's configuration (SSF 1.0 §8.1.1), as a receiver may ask for it, pure.

``settings_from`` reads a create (POST), update (PATCH) or replace (PUT) request body into the
receiver-supplied settings, checking every value (bounded sizes, no control characters, a push
``endpoint_url`` by the same rules as a back-channel URI) and, on update and replace, that any
transmitter-supplied value sent back matches (§8.1.1.3, §8.1.1.4).  A refusal is an ``ApiError``
400 naming the field.  ``view`` is the configuration as the receiver reads it back.

exeunt adds one receiver-supplied property (SSF §4.3.3 allows more fields): ``subject_format``,
``iss_sub`` (default), ``email`` or ``complex`` (the person and the session's ``sid``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from exeunt.errors import ApiError
from exeunt.protocol.signals import EVENTS_SUPPORTED, SUBJECT_FORMATS
from exeunt.protocol.urls import uri_problem

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
DELIVERY_METHODS = (PUSH, POLL)
STATUSES = ("enabled", "paused", "disabled")
MAX_DESCRIPTION = 500
MAX_EVENTS_REQUESTED = 50
MAX_EVENT_URI = 256
MAX_AUTHORIZATION_HEADER = 2048
MAX_STATE = 512
MAX_REASON = 500
MIN_VERIFICATION_INTERVAL = 30  # seconds (§8.1.1: a verification request sooner is answered 429)
# The bounds of a paused stream (interop profile §2.3.5 asks the transmitter to state them): it keeps
# at most this many events, for at most this many seconds; older or more are given up.
HELD_EVENTS_KEPT = 10_000
HELD_EVENTS_SECONDS = 7 * 86400
RECEIVER_SUPPLIED = ("delivery", "events_requested", "description", "subject_format")
TRANSMITTER_SUPPLIED = ("iss", "aud", "events_supported", "events_delivered", "min_verification_interval")


def bad_request(description: str) -> ApiError:
    return ApiError(400, "invalid_request", description)


@dataclass(frozen=True)
class StreamSettings:
    """What the receiver chose: how events reach it, which it wants, and what it calls the stream."""

    delivery_method: str = POLL
    endpoint_url: str | None = None  # push: the receiver's; poll: None (exeunt's, per stream)
    authorization_header: str | None = None  # push: sent with every request; never shown back
    events_requested: list[str] | None = None
    description: str | None = None
    subject_format: str = "iss_sub"

    @property
    def events_delivered(self) -> list[str]:
        """§8.1.1: the supported events the receiver asked for (all of them when it asked for none)."""
        if self.events_requested is None:
            return list(EVENTS_SUPPORTED)
        return [e for e in EVENTS_SUPPORTED if e in self.events_requested]


def settings_from(
    body: object, *, current: StreamSettings | None = None, expected: dict[str, Any] | None = None
) -> StreamSettings:
    """A create (``current`` None), update (``current`` given; what is absent stays) or replace
    (``current`` given and ``expected`` given with ``replacing``) request's settings."""
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    for name, value in (expected or {}).items():
        if name in body and body[name] != value:
            raise bad_request(f"{name} is supplied by the transmitter and must be {value!r} if sent")
    settings = current or StreamSettings()
    if "delivery" in body or current is None:
        settings = _delivery(body.get("delivery"), settings)
    if "events_requested" in body:
        settings = replace(settings, events_requested=_events(body["events_requested"]))
    if "description" in body:
        settings = replace(settings, description=_text(body["description"], "description", MAX_DESCRIPTION))
    if "subject_format" in body:
        if body["subject_format"] not in SUBJECT_FORMATS:
            raise bad_request(f"subject_format must be one of {', '.join(SUBJECT_FORMATS)}")
        settings = replace(settings, subject_format=body["subject_format"])
    return settings


def replacing(body: object, current: StreamSettings, expected: dict[str, Any]) -> StreamSettings:
    """§8.1.1.4: every receiver-supplied property absent from a replace request is deleted."""
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    return settings_from(body, current=None, expected=expected)


def _delivery(raw: object, settings: StreamSettings) -> StreamSettings:
    """§8.1.1.1: no ``delivery`` means poll; push needs the receiver's ``endpoint_url``."""
    if raw is None:
        return replace(settings, delivery_method=POLL, endpoint_url=None, authorization_header=None)
    if not isinstance(raw, dict):
        raise bad_request("delivery must be an object with a method")
    method = raw.get("method", POLL)
    if method not in DELIVERY_METHODS:
        raise bad_request(f"delivery.method must be {PUSH} (push) or {POLL} (poll)")
    if method == POLL:
        return replace(settings, delivery_method=POLL, endpoint_url=None, authorization_header=None)
    url = raw.get("endpoint_url")
    if not isinstance(url, str):
        raise bad_request("delivery.endpoint_url is required for push delivery")
    problem = uri_problem(url)
    if problem is not None:
        raise bad_request(f"delivery.endpoint_url {problem}")
    header = raw.get("authorization_header")
    if header is not None:
        header = _text(header, "delivery.authorization_header", MAX_AUTHORIZATION_HEADER)
    return replace(settings, delivery_method=PUSH, endpoint_url=url, authorization_header=header)


def _events(raw: object) -> list[str]:
    if not isinstance(raw, list) or len(raw) > MAX_EVENTS_REQUESTED:
        raise bad_request(f"events_requested must be a list of at most {MAX_EVENTS_REQUESTED} event type URIs")
    events = []
    for value in raw:
        if not isinstance(value, str) or not 0 < len(value) <= MAX_EVENT_URI:
            raise bad_request(f"each of events_requested is a URI of at most {MAX_EVENT_URI} characters")
        events.append(value)  # §8.1.1: values the transmitter does not understand are ignored
    return list(dict.fromkeys(events))


def _text(raw: object, name: str, limit: int) -> str:
    if not isinstance(raw, str) or len(raw) > limit:
        raise bad_request(f"{name} must be a string of at most {limit} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise bad_request(f"{name} must not contain control characters")
    return raw


def status_request(body: object) -> tuple[str, str, str | None]:
    """§8.1.2.2: ``(stream_id, status, reason)`` of an update-status request."""
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    stream_id, status = body.get("stream_id"), body.get("status")
    if not isinstance(stream_id, str) or not stream_id:
        raise bad_request("stream_id is required")
    if status not in STATUSES:
        raise bad_request(f"status must be one of {', '.join(STATUSES)}")
    reason = body.get("reason")
    if reason is not None:
        reason = _text(reason, "reason", MAX_REASON)
    return stream_id, status, reason


def verification_request(body: object) -> tuple[str, str | None]:
    """§8.1.4.2: ``(stream_id, state)`` of a verification request."""
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    stream_id = body.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id:
        raise bad_request("stream_id is required")
    state = body.get("state")
    if state is not None:
        state = _text(state, "state", MAX_STATE)
    return stream_id, state


def view(*, stream_id: str, issuer: str, audience: str, settings: StreamSettings, poll_url: str) -> dict[str, Any]:
    """The stream's configuration as the receiver reads it (§8.1.1); the authorization header it
    gave is never sent back."""
    endpoint = settings.endpoint_url if settings.delivery_method == PUSH else poll_url
    config: dict[str, Any] = {
        "stream_id": stream_id,
        "iss": issuer,
        "aud": audience,
        "delivery": {"method": settings.delivery_method, "endpoint_url": endpoint},
        "events_supported": list(EVENTS_SUPPORTED),
        "events_delivered": settings.events_delivered,
        "min_verification_interval": MIN_VERIFICATION_INTERVAL,
        "subject_format": settings.subject_format,
    }
    if settings.events_requested is not None:
        config["events_requested"] = settings.events_requested
    if settings.description is not None:
        config["description"] = settings.description
    return config


def expected_values(*, issuer: str, audience: str, settings: StreamSettings) -> dict[str, Any]:
    """The transmitter-supplied values an update or replace may send back, but only unchanged."""
    return {
        "iss": issuer,
        "aud": audience,
        "events_supported": list(EVENTS_SUPPORTED),
        "events_delivered": settings.events_delivered,
        "min_verification_interval": MIN_VERIFICATION_INTERVAL,
    }


MAX_POLL_EVENTS = 1000
DEFAULT_POLL_EVENTS = 100
MAX_ACKS = 1000
MAX_JTI = 128


@dataclass(frozen=True)
class PollRequest:
    """RFC 8936 §2.4: what to acknowledge, what was refused, and how many events to return."""

    max_events: int = DEFAULT_POLL_EVENTS
    return_immediately: bool = False
    ack: tuple[str, ...] = ()
    set_errors: tuple[tuple[str, str], ...] = ()  # (jti, "err: description")


def poll_request(body: object) -> PollRequest:
    """Reads a poll request; an empty body polls with the defaults."""
    if body is None:
        return PollRequest()
    if not isinstance(body, dict):
        raise bad_request("the body must be a JSON object")
    max_events = body.get("maxEvents", DEFAULT_POLL_EVENTS)
    if isinstance(max_events, bool) or not isinstance(max_events, int) or not 0 <= max_events <= MAX_POLL_EVENTS:
        raise bad_request(f"maxEvents must be a whole number from 0 to {MAX_POLL_EVENTS}")
    immediately = body.get("returnImmediately", False)
    if not isinstance(immediately, bool):
        raise bad_request("returnImmediately must be true or false")
    ack = body.get("ack", [])
    if not isinstance(ack, list) or len(ack) > MAX_ACKS or not all(_is_jti(j) for j in ack):
        raise bad_request(f"ack must be a list of at most {MAX_ACKS} jti strings")
    errors = body.get("setErrs", {})
    if not isinstance(errors, dict) or len(errors) > MAX_ACKS:
        raise bad_request(f"setErrs must be an object of at most {MAX_ACKS} jti: {{err, description}}")
    refused = []
    for jti, detail in errors.items():
        if not _is_jti(jti) or not isinstance(detail, dict) or not isinstance(detail.get("err"), str):
            raise bad_request('each setErrs entry is jti: {"err": ..., "description": ...}')
        description = detail.get("description")
        text = detail["err"][:64] + (f": {description[:300]}" if isinstance(description, str) else "")
        refused.append((jti, "".join(c for c in text if c.isprintable())))
    return PollRequest(
        max_events=max_events,
        return_immediately=immediately or max_events == 0,
        ack=tuple(dict.fromkeys(ack)),
        set_errors=tuple(refused),
    )


def _is_jti(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_JTI
