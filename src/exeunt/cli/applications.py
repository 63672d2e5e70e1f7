"""Commands about applications: clients, their back-channel deliveries, and the signing keys."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta

from exeunt.cli.common import Subparsers, config_of, on_database
from exeunt.clock import SYSTEM
from exeunt.config import SIGNING_ALGS
from exeunt.errors import OperatorError
from exeunt.operations import applications
from exeunt.operations import deliveries as delivery_operations
from exeunt.operations import keys as key_operations
from exeunt.protocol.registration import GRANT_TYPES, build_client
from exeunt.protocol.scopes import SERVICE_SCOPES


def _grant_types(args: argparse.Namespace) -> list[str]:
    """authorization_code when the client has redirect URIs (it signs people in), plus those named."""
    return list(dict.fromkeys([*(["authorization_code"] if args.redirect_uri else []), *(args.grant_type or [])]))


def cmd_clients_add(args: argparse.Namespace) -> int:
    client = build_client(
        client_id=args.client_id,
        name=args.name,
        redirect_uris=args.redirect_uri or [],
        public=args.public,
        token_endpoint_auth_method=args.token_endpoint_auth_method,
        post_logout_redirect_uris=args.post_logout_redirect_uri or [],
        frontchannel_logout_uri=args.frontchannel_logout_uri,
        frontchannel_logout_session_required=args.frontchannel_logout_session_required,
        backchannel_logout_uri=args.backchannel_logout_uri,
        backchannel_logout_session_required=args.backchannel_logout_session_required,
        id_token_signed_response_alg=args.id_token_signed_response_alg,
        grant_types=_grant_types(args),
        allow_offline_access=args.allow_offline_access,
        rotate_refresh_tokens=not args.no_refresh_token_rotation,
        scopes=args.scope or [],
        all_subjects=args.all_subjects,
    )
    key_operations.check_signing_alg(config_of(args), client.id_token_signed_response_alg)
    chosen = sys.stdin.readline().rstrip("\r\n") if args.secret_stdin else None
    secret = on_database(args, applications.add_client, client, chosen, now=SYSTEM.now())
    print(f"client {client.client_id} added ({client.token_endpoint_auth_method})")
    if secret and not chosen:
        print(f"client_secret: {secret}\n(shown once; exeunt keeps only a hash)")
    return 0


def cmd_clients_update(args: argparse.Namespace) -> int:
    """Only what is given changes; a list option (--redirect-uri ...) replaces that whole list."""
    changes: dict[str, object] = {}
    for option, field_name in (
        ("name", "name"),
        ("redirect_uri", "redirect_uris"),
        ("post_logout_redirect_uri", "post_logout_redirect_uris"),
        ("frontchannel_logout_uri", "frontchannel_logout_uri"),
        ("backchannel_logout_uri", "backchannel_logout_uri"),
        ("id_token_signed_response_alg", "id_token_signed_response_alg"),
        ("token_endpoint_auth_method", "token_endpoint_auth_method"),
        ("scope", "scopes"),
        ("grant_type", "grant_types"),
    ):
        value = getattr(args, option)
        if value is not None:
            changes[field_name] = "" if value == [""] else value
    for flag, field_name in (
        ("frontchannel_logout_session_required", "frontchannel_logout_session_required"),
        ("backchannel_logout_session_required", "backchannel_logout_session_required"),
        ("allow_offline_access", "allow_offline_access"),
        ("all_subjects", "all_subjects"),
    ):
        if getattr(args, flag) is not None:
            changes[field_name] = getattr(args, flag)
    for field_name in ("frontchannel_logout_uri", "backchannel_logout_uri"):
        if changes.get(field_name) == "":
            changes[field_name] = None  # --backchannel-logout-uri '' removes it
    if not changes and not args.rotate_secret:
        raise OperatorError("nothing to change: give the options to change (see `exeunt clients update --help`)")
    if "id_token_signed_response_alg" in changes:
        key_operations.check_signing_alg(config_of(args), str(changes["id_token_signed_response_alg"]))
    client, secret = on_database(
        args, applications.update_client, args.client_id, changes, rotate_secret=args.rotate_secret
    )
    print(f"client {client.client_id} updated")
    if secret:
        print(f"client_secret: {secret}\n(shown once; exeunt keeps only a hash; the old one no longer works)")
    return 0


def cmd_clients_list(args: argparse.Namespace) -> int:
    clients = on_database(args, applications.list_clients)
    if not clients:
        print("no clients yet: register one with `exeunt clients add CLIENT_ID --redirect-uri URI`")
        return 0
    over_http = on_database(args, applications.registered_over_http)
    print("client_id\tname\tregistered by\tstate\tauthentication\tgrant types\tredirect URIs")
    for c in clients:
        by = "HTTP (RFC 7591)" if c.client_id in over_http else "operator"
        state = "disabled" if c.disabled else "active"
        print(
            f"{c.client_id}\t{c.name}\t{by}\t{state}\t{c.token_endpoint_auth_method}\t{','.join(c.grant_types)}\t"
            f"{' '.join(c.redirect_uris) or '-'}"
        )
    return 0


def cmd_clients_disable(args: argparse.Namespace) -> int:
    on_database(args, applications.set_disabled, args.client_id, args.clients_command == "disable")
    done = "disabled: it signs nobody in and gets no token" if args.clients_command == "disable" else "enabled"
    print(f"client {args.client_id} {done}")
    return 0


def cmd_clients_show(args: argparse.Namespace) -> int:
    view = on_database(args, applications.get_client, args.client_id).public_view()
    view["registered_over_http"] = args.client_id in on_database(args, applications.registered_over_http)
    print(json.dumps(view, indent=2))
    return 0


def cmd_clients_remove(args: argparse.Namespace) -> int:
    on_database(args, applications.remove_client, args.client_id)
    print(f"client {args.client_id} removed")
    return 0


def cmd_deliveries(args: argparse.Namespace) -> int:
    rows = on_database(
        args, delivery_operations.list_deliveries, pending=args.pending, given_up=args.given_up, client_id=args.client
    )
    if not rows:
        filtered = args.pending or args.given_up or args.client
        print("no back-channel notifications match" if filtered else "no back-channel notifications yet")
        return 0
    print("id\tclient\tstate\tattempts\tsession ended because\tcreated\tlast status/error\turi")
    for r in rows:
        last = r.last_error or (str(r.last_status) if r.last_status else "")
        print(
            f"{r.id}\t{r.client_id}\t{r.state}\t{r.attempts}\t{r.reason}\t{r.created_at:%Y-%m-%d %H:%M:%S} UTC\t"
            f"{last}\t{r.uri}"
        )
    return 0


def cmd_deliveries_retry(args: argparse.Namespace) -> int:
    if args.id is None and not args.all_given_up:
        raise OperatorError("name a delivery id, or use --all-given-up")
    delivery_id = None if args.all_given_up else args.id
    count = on_database(args, delivery_operations.requeue_deliveries, delivery_id=delivery_id, now=SYSTEM.now())
    print(f"{count} deliveries queued again")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    states = on_database(args, key_operations.key_states, config_of(args), SYSTEM.now())
    print("kid\talg\tstate\tsigns from\tstops signing")
    for k in states:
        r = k.record
        stops = f"{r.retired_at:%Y-%m-%d %H:%M:%S}" if r.retired_at else "-"
        print(f"{r.kid}\t{r.alg}\t{k.state}\t{r.signs_from:%Y-%m-%d %H:%M:%S}\t{stops}")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    config = config_of(args)
    delay = timedelta(seconds=config.key_rotation_delay if args.delay is None else args.delay)
    algs = (args.alg,) if args.alg else SIGNING_ALGS
    records = on_database(args, key_operations.rotate_keys, config, algs=algs, delay=delay, now=SYSTEM.now())
    for record in records:
        print(
            f"added {record.kid} ({record.alg}): in the JWKS now, "
            f"signing from {record.signs_from:%Y-%m-%d %H:%M:%S} UTC"
        )
    print("older keys of the same algorithm stop signing then and stay published until their tokens have expired")
    return 0


def cmd_keys_retire(args: argparse.Namespace) -> int:
    on_database(args, key_operations.retire_key, config_of(args), args.kid, force=args.force, now=SYSTEM.now())
    print(f"{args.kid} stops signing now; it stays in the JWKS until tokens it signed have expired")
    return 0


def add_parsers(sub: Subparsers) -> None:
    clients = sub.add_parser(
        "clients", help="manage clients: add, list, show, remove", description="Relying parties (applications)."
    ).add_subparsers(dest="clients_command", required=True)
    cadd = clients.add_parser("add", help="register a client (prints a generated secret once)")
    cadd.add_argument("client_id", help="1 to 200 printable ASCII characters without spaces")
    cadd.add_argument(
        "--redirect-uri",
        action="append",
        metavar="URI",
        help="where codes are sent (repeatable; exact match; https, or http on loopback): the client signs "
        "people in (grant authorization_code)",
    )
    cadd.add_argument("--public", action="store_true", help="a browser or native app: no secret, PKCE required")
    cadd.add_argument(
        "--token-endpoint-auth-method",
        choices=["client_secret_basic", "client_secret_post"],
        help="how a confidential client sends its secret (default client_secret_basic)",
    )
    cadd.add_argument(
        "--post-logout-redirect-uri", action="append", metavar="URI", help="where sign-out may return (repeatable)"
    )
    cadd.add_argument("--frontchannel-logout-uri", metavar="URI", help="loaded in an iframe at sign-out (FCL)")
    cadd.add_argument("--frontchannel-logout-session-required", action="store_true", help="add iss and sid to it")
    cadd.add_argument("--backchannel-logout-uri", metavar="URI", help="where logout tokens are POSTed (BCL)")
    cadd.add_argument("--backchannel-logout-session-required", action="store_true", help="sid in every logout token")
    cadd.add_argument(
        "--id-token-signed-response-alg",
        choices=SIGNING_ALGS,
        help="id_token and logout-token algorithm (default EXEUNT_SIGNING_ALG)",
    )
    cadd.add_argument(
        "--grant-type",
        action="append",
        choices=GRANT_TYPES,
        help="a grant type (repeatable): refresh_token for a client that signs people in, client_credentials "
        "for one that calls the Shared Signals or revocation API (authorization_code comes with --redirect-uri)",
    )
    cadd.add_argument(
        "--scope",
        action="append",
        choices=SERVICE_SCOPES,
        help="granted for client_credentials tokens (repeatable): ssf.manage, ssf.read, global_token_revocation",
    )
    cadd.add_argument(
        "--all-subjects",
        action="store_true",
        help="client_credentials only: its streams and revocations reach every person (a security tool), "
        "not only those who signed in to it",
    )
    cadd.add_argument(
        "--allow-offline-access",
        action="store_true",
        help="may ask for offline_access: refresh tokens that outlive the browser's sign-out",
    )
    cadd.add_argument(
        "--no-refresh-token-rotation",
        action="store_true",
        help="confidential clients only: keep one refresh token instead of a new one on every use",
    )
    cadd.add_argument("--name", help="shown on the sign-in and sign-out pages (default: the client id)")
    cadd.add_argument("--secret-stdin", action="store_true", help="read a chosen secret (32+ characters) from stdin")
    cadd.set_defaults(func=cmd_clients_add)
    cupdate = clients.add_parser(
        "update", help="change a client's registration (only what is given; the secret stays unless --rotate-secret)"
    )
    cupdate.add_argument("client_id", help="the client id")
    cupdate.add_argument("--name", help="shown on the sign-in and sign-out pages")
    for option, text in (
        ("--redirect-uri", "replaces the redirect URIs (repeatable)"),
        ("--post-logout-redirect-uri", "replaces the post-logout redirect URIs (repeatable; '' for none)"),
        ("--scope", "replaces the granted scopes (repeatable; '' for none)"),
        ("--grant-type", "replaces the grant types (repeatable)"),
    ):
        cupdate.add_argument(option, action="append", metavar="VALUE", help=text)
    cupdate.add_argument("--frontchannel-logout-uri", metavar="URI", help="a new front-channel URI ('' removes it)")
    cupdate.add_argument("--backchannel-logout-uri", metavar="URI", help="a new back-channel URI ('' removes it)")
    cupdate.add_argument("--id-token-signed-response-alg", choices=SIGNING_ALGS, help="id_token algorithm")
    cupdate.add_argument(
        "--token-endpoint-auth-method",
        choices=["client_secret_basic", "client_secret_post"],
        help="how a confidential client sends its secret",
    )
    for flag, text in (
        ("frontchannel-logout-session-required", "add iss and sid to the front-channel URI"),
        ("backchannel-logout-session-required", "sid in every logout token"),
        ("allow-offline-access", "may ask for offline_access refresh tokens"),
        ("all-subjects", "its streams and revocations reach every person"),
    ):
        cupdate.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=None, help=text)
    cupdate.add_argument("--rotate-secret", action="store_true", help="a new secret, shown once (the old one stops)")
    cupdate.set_defaults(func=cmd_clients_update)
    clients.add_parser("list", help="every client").set_defaults(func=cmd_clients_list, read_only=True)
    for verb, func, text, read_only in (
        ("show", cmd_clients_show, "one client's registration (never its secret)", True),
        ("remove", cmd_clients_remove, "remove a client", False),
        ("disable", cmd_clients_disable, "stop a client: it signs nobody in and gets no token", False),
        ("enable", cmd_clients_disable, "let a disabled client work again", False),
    ):
        c = clients.add_parser(verb, help=text)
        c.add_argument("client_id", help="the client id")
        c.set_defaults(func=func, read_only=read_only)
    dl = sub.add_parser("deliveries", help="list back-channel notifications, or retry given-up ones")
    dl.add_argument("--pending", action="store_true", help="only those still being delivered")
    dl.add_argument("--given-up", "--failed", action="store_true", help="only those given up")
    dl.add_argument("--client", metavar="CLIENT_ID", help="only this client's")
    dl.set_defaults(func=cmd_deliveries, read_only=True)
    dl_sub = dl.add_subparsers(dest="deliveries_command")
    retry = dl_sub.add_parser("retry", help="queue given-up deliveries again")
    retry.add_argument("id", nargs="?", type=int, help="the delivery id `exeunt deliveries` shows")
    retry.add_argument("--all-given-up", "--all-failed", action="store_true", help="every given-up delivery")
    retry.set_defaults(func=cmd_deliveries_retry)

    keys = sub.add_parser("keys", help="signing keys").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("list", help="every key and what it does now").set_defaults(func=cmd_keys_list, read_only=True)
    rotate = keys.add_parser(
        "rotate", help="publish a new key per algorithm now; each signs after EXEUNT_KEY_ROTATION_DELAY"
    )
    rotate.add_argument("--alg", choices=SIGNING_ALGS, help="rotate only this algorithm's key (default: all together)")
    rotate.add_argument("--delay", type=int, metavar="SECONDS", help="override EXEUNT_KEY_ROTATION_DELAY")
    rotate.set_defaults(func=cmd_keys_rotate)
    retire = keys.add_parser("retire", help="stop a key signing now (it stays published while its tokens live)")
    retire.add_argument("kid", help="the key id `exeunt keys list` shows (one starting with '-' goes after `--`)")
    retire.add_argument("--force", action="store_true", help="even when no other key would sign its algorithm")
    retire.set_defaults(func=cmd_keys_retire)
