"""The key ring over time, session_state (Session Management §3.2), and parameter parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exeunt.protocol.identifiers import is_random_id
from exeunt.security import new_session_id
from exeunt.tokens.keys import KeyRing, new_key_record
from exeunt.tokens.session_state import matches, session_state
from exeunt.web.params import BadParameters, parse_urlencoded

T0 = datetime(2026, 12, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_a_rotated_in_key_is_published_first_and_signs_later() -> None:
    old = new_key_record("ES256", T0 - HOUR)
    new = new_key_record("ES256", T0, signs_from=T0 + timedelta(minutes=10))
    old = type(old)(**{**old.__dict__, "retired_at": new.signs_from})
    ring = KeyRing([old, new], publish_after_retire=HOUR)
    published = {k.kid for k in ring.published(T0)}
    assert published == {old.kid, new.kid}
    assert ring.signing_key("ES256", T0).kid == old.kid  # type: ignore[union-attr]
    later = T0 + timedelta(minutes=10)
    assert ring.signing_key("ES256", later).kid == new.kid  # type: ignore[union-attr]
    assert old.kid in {k.kid for k in ring.published(later + HOUR - timedelta(seconds=1))}
    assert old.kid not in {k.kid for k in ring.published(later + HOUR)}
    assert ring.verification_key(old.kid) is not None  # a hint signed long ago still verifies


def test_a_client_alg_without_a_key_gets_no_key_never_another_algorithms() -> None:
    """Issue 12.1: an ES256 client rejects an RS256 token, so there is no fallback."""
    ring = KeyRing([new_key_record("RS256", T0)], publish_after_retire=HOUR)
    assert ring.signing_key_for("ES256", "RS256", T0) is None
    assert ring.signing_key_for(None, "RS256", T0).alg == "RS256"  # type: ignore[union-attr]
    assert ring.signing_algorithms(T0) == ["RS256"]
    both = KeyRing([new_key_record("RS256", T0), new_key_record("ES256", T0)], publish_after_retire=HOUR)
    assert both.signing_key_for("ES256", "RS256", T0).alg == "ES256"  # type: ignore[union-attr]
    assert both.signing_algorithms(T0) == ["ES256", "RS256"]


def test_jwks_members_and_kid_thumbprint() -> None:
    ring = KeyRing([new_key_record("ES256", T0)], publish_after_retire=HOUR)
    [jwk] = ring.jwks(T0)["keys"]
    assert jwk["use"] == "sig" and jwk["alg"] == "ES256" and "key_ops" not in jwk and "d" not in jwk


def test_session_state_changes_with_browser_state_and_verifies_with_its_salt() -> None:
    value = session_state("notes", "https://notes.example", "bs1", salt="abc")
    assert value.endswith(".abc")
    assert matches(value, "notes", "https://notes.example", "bs1")
    assert not matches(value, "notes", "https://notes.example", "bs2")
    assert not matches(value, "board", "https://notes.example", "bs1")
    assert session_state("notes", "o", "bs1") != session_state("notes", "o", "bs1")  # fresh salt each time


@pytest.mark.parametrize(
    "raw, complaint",
    [
        (b"a=1&a=2", "repeated"),
        (b"a=%ff", "UTF-8"),
        (b"a=%00", "NUL"),
        ("a=é".encode(), "UTF-8"),
    ],
)
def test_parameters_are_strict(raw: bytes, complaint: str) -> None:
    with pytest.raises(BadParameters, match=complaint):
        parse_urlencoded(raw)


def test_parameters_keep_blanks_and_decode_utf8() -> None:
    assert parse_urlencoded(b"a=&b=%C3%A9+x") == {"a": "", "b": "é x"}


def test_session_ids_can_be_typed_as_command_line_arguments() -> None:
    """A sid starting with "-" read as an option: `exeunt sessions show -Xy…` failed once in 64."""
    sids = {new_session_id() for _ in range(5000)}
    assert len(sids) == 5000
    assert not any(s.startswith("-") for s in sids)
    assert all(len(s) == 32 and is_random_id(s) for s in sids)
