"""Commands about Shared Signals: streams (list, show, pause, enable, disable, remove) and their
events (list, retry).  A status an operator sets is told to the receiver (stream-updated)."""

from __future__ import annotations

import argparse
import json

from exeunt.cli.common import Subparsers, with_runtime
from exeunt.errors import OperatorError
from exeunt.operations import streams as operations
from exeunt.runtime import Runtime


def cmd_streams_list(args: argparse.Namespace) -> int:
    states = with_runtime(args, operations.listing, client_id=args.client)
    if not states:
        print("no streams: a receiver creates them through the Shared Signals API (see the README)")
        return 0
    print("stream_id\tclient\tdelivery\tstatus\tpending\theld\tdelivered\tgiven up\tendpoint")
    for s in states:
        r, c = s.stream, s.counts
        method = "push" if r.delivery_method.endswith("8935") else "poll"
        print(
            f"{r.stream_id}\t{r.client_id}\t{method}\t{r.status}\t{c['pending']}\t{c['held']}\t{c['delivered']}\t"
            f"{c['given_up']}\t{r.endpoint_url or '(polled)'}"
        )
    return 0


async def _show(runtime: Runtime, stream_id: str) -> dict[str, object]:
    stream = await operations.find(runtime, stream_id)
    [state] = [
        s for s in await operations.listing(runtime, client_id=stream.client_id) if s.stream.stream_id == stream_id
    ]
    return {
        **operations.view(runtime, stream),
        "status": stream.status,
        "reason": stream.status_reason,
        "events": state.counts,
    }


def cmd_streams_show(args: argparse.Namespace) -> int:
    print(json.dumps(with_runtime(args, _show, args.stream_id), indent=2))
    return 0


async def _status(runtime: Runtime, stream_id: str, status: str, reason: str | None) -> None:
    stream = await operations.find(runtime, stream_id)
    await operations.set_status(runtime, stream, status, reason, by_operator=True)


def cmd_streams_status(args: argparse.Namespace) -> int:
    status = {"pause": "paused", "enable": "enabled", "disable": "disabled"}[args.streams_command]
    with_runtime(args, _status, args.stream_id, status, args.reason)
    print(f"stream {args.stream_id} {status}; the receiver is told (stream-updated)")
    return 0


async def _remove(runtime: Runtime, stream_id: str) -> None:
    await operations.delete(runtime, await operations.find(runtime, stream_id))


def cmd_streams_remove(args: argparse.Namespace) -> int:
    with_runtime(args, _remove, args.stream_id)
    print(f"stream {args.stream_id} removed, with the events still waiting for it")
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    rows = with_runtime(args, operations.events, stream_id=args.stream, pending=args.pending, given_up=args.given_up)
    if not rows:
        print("no events" + (" match" if args.stream or args.pending or args.given_up else " yet"))
        return 0
    print("id\tstream\tclient\tevent\tdelivery\tstate\tattempts\tcreated\tlast status/error")
    for r in rows:
        last = r.last_error or (str(r.last_status) if r.last_status else "")
        print(
            f"{r.id}\t{r.stream_id}\t{r.client_id}\t{r.event_type}\t{r.delivery}\t{r.state}\t{r.attempts}\t"
            f"{r.created_at:%Y-%m-%d %H:%M:%S} UTC\t{last}"
        )
    return 0


def cmd_events_retry(args: argparse.Namespace) -> int:
    if args.id is None and not args.all_given_up:
        raise OperatorError("name an event id, or use --all-given-up")
    count = with_runtime(args, operations.requeue, event_id=None if args.all_given_up else args.id)
    print(f"{count} event{'' if count == 1 else 's'} queued again")
    return 0


def add_parsers(sub: Subparsers) -> None:
    streams = sub.add_parser(
        "streams", help="Shared Signals streams: list, show, pause, enable, disable, remove"
    ).add_subparsers(dest="streams_command", required=True)
    slist = streams.add_parser("list", help="every stream, with how many of its events are where")
    slist.add_argument("--client", metavar="CLIENT_ID", help="only this receiver's")
    slist.set_defaults(func=cmd_streams_list, read_only=True)
    sshow = streams.add_parser("show", help="one stream's configuration and events (never its authorization header)")
    sshow.add_argument("stream_id", help="the id `exeunt streams list` shows")
    sshow.set_defaults(func=cmd_streams_show, read_only=True)
    for verb, text in (
        ("pause", "hold its events (sent when enabled again)"),
        ("enable", "send again, held events first"),
        ("disable", "send nothing and keep nothing"),
    ):
        p = streams.add_parser(verb, help=f"{text}; the receiver is told by a stream-updated event")
        p.add_argument("stream_id", help="the stream")
        p.add_argument("--reason", help="told to the receiver with the new status")
        p.set_defaults(func=cmd_streams_status)
    sremove = streams.add_parser("remove", help="delete a stream and the events still waiting for it")
    sremove.add_argument("stream_id", help="the stream")
    sremove.set_defaults(func=cmd_streams_remove)

    events = sub.add_parser("events", help="Shared Signals events (SETs): list, or retry given-up ones")
    events.add_argument("--stream", metavar="STREAM_ID", help="only this stream's")
    events.add_argument("--pending", action="store_true", help="only those not yet delivered or acknowledged")
    events.add_argument("--given-up", action="store_true", help="only those given up")
    events.set_defaults(func=cmd_events, read_only=True)
    events_sub = events.add_subparsers(dest="events_command")
    retry = events_sub.add_parser("retry", help="queue given-up push events again")
    retry.add_argument("id", nargs="?", type=int, help="the event id `exeunt events` shows")
    retry.add_argument("--all-given-up", action="store_true", help="every given-up push event")
    retry.set_defaults(func=cmd_events_retry)
