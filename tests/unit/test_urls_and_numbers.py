"""URL helpers (RFC 6454 origins, query parameters kept) and ASCII-only numbers."""

from __future__ import annotations

import pytest

from exeunt.protocol.numbers import parse_non_negative
from exeunt.protocol.urls import add_query, is_loopback_host, origin_of


@pytest.mark.parametrize(
    "uri, origin",
    [
        ("https://RP.example/cb?x=1", "https://rp.example"),
        ("https://rp.example:443/cb", "https://rp.example"),
        ("http://localhost:80/", "http://localhost"),
        ("http://localhost:3000/cb", "http://localhost:3000"),
        ("http://[::1]:8080/cb", "http://[::1]:8080"),
    ],
)
def test_origin_is_serialised_as_rfc_6454_says(uri: str, origin: str) -> None:
    assert origin_of(uri) == origin


def test_add_query_keeps_the_registered_query_and_skips_none() -> None:
    assert add_query("https://rp/fc?tenant=3", {"iss": "https://op", "sid": None}) == (
        "https://rp/fc?tenant=3&iss=https%3A%2F%2Fop"
    )
    assert add_query("https://rp/bye", {"state": "a b"}) == "https://rp/bye?state=a+b"
    assert add_query("https://rp/bye", {"state": None}) == "https://rp/bye"


@pytest.mark.parametrize("host, loopback", [("localhost", True), ("127.0.0.5", True), ("[::1]", True), ("rp", False)])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    "raw, value", [("0", 0), ("86400", 86400), ("²", None), ("٣", None), ("-1", None), ("1e3", None), ("", None)]
)
def test_numbers_are_ascii_digits_only(raw: str, value: int | None) -> None:
    assert parse_non_negative(raw) == value


def test_numbers_are_bounded_in_length() -> None:
    assert parse_non_negative("9" * 18) == int("9" * 18)
    assert parse_non_negative("9" * 19) is None
