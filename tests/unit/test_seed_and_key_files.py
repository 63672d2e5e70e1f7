"""Operator files read strictly: the seed file and PEM signing keys (issue 14 A2)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from exeunt.config import ConfigError, load_config
from exeunt.seed_file import SeedError, read_seed
from exeunt.tokens.keys import KeyFileError, load_key_file

SECRET = "s" * 40
CLIENT = f'[[clients]]\nclient_id = "notes"\nsecret = "{SECRET}"\nredirect_uris = ["https://notes.example/cb"]\n'
USER = '[[users]]\nusername = "alice"\npassword = "long enough"\n'


def seed(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "seed.toml"
    path.write_text(text)
    return path


def test_a_valid_seed_file_is_read_whole(tmp_path: Path) -> None:
    read = read_seed(seed(tmp_path, USER + "\n" + CLIENT + 'public = false\nname = "Notes"\n'))
    assert [u.username for u in read.users] == ["alice"]
    [client] = read.clients
    assert client.record.client_id == "notes" and not client.record.is_public and client.secret == SECRET


@pytest.mark.parametrize(
    "text, complaint",
    [
        (
            CLIENT + 'public = "false"\n',
            "public (line 5): must be true or false without quotes (got the string 'false')",
        ),
        (CLIENT + "frontchannel_logout_session_required = 1\n", "must be true or false"),
        ('[clients]\nclient_id = "x"\n', "clients must be written as [[clients]] tables"),
        ('users = ["alice"]\n', "users must be written as [[users]] tables"),
        ('[[users]]\nusername = "alice"\npassword = 12345678\n', "password (line 3): must be a quoted string"),
        ('[[users]]\nusername = "alice"\npassword = "x"\n', "a password must be 8 to 1024 characters"),
        ('[[users]]\nusername = "al ice"\npassword = "long enough"\n', "without spaces"),
        (USER + f'email = "{"a" * 400}@x"\n', "an email is an address"),
        (USER + f'name = "{"n" * 201}"\n', "a name is 1 to 200"),
        ('[[users]]\npassword = "long enough"\n', "username"),
        (CLIENT.replace(f'secret = "{SECRET}"\n', "secret = 123456789012345678901234567890123\n"), "quoted string"),
        (CLIENT.replace(f'secret = "{SECRET}"\n', ""), "secret"),
        (CLIENT + "public = true\n", "must not be set for a public client"),
        (
            CLIENT + 'redirect_uri = "https://x"\n',
            "redirect_uri (line 5): is not a known key; did you mean redirect_uris?",
        ),
        (CLIENT + 'name = "' + "n" * 300 + '"\n', "client name"),
        (CLIENT.replace('"https://notes.example/cb"', '"http://[::1/cb"'), "not a valid URI"),
        (CLIENT.replace('"https://notes.example/cb"', '"javascript:alert(1)"'), "javascript: scheme"),
        ("[extra]\nx = 1\n", "'extra' is not a known section"),
        ("users = [[", "cannot read seed file"),
    ],
)
def test_each_mistake_names_the_entry_key_and_fix(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(SeedError) as caught:
        read_seed(seed(tmp_path, text))
    assert complaint in str(caught.value)
    assert "seed.toml" in str(caught.value)


def _write(path: Path, key: object, password: bytes | None = None) -> Path:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(
        key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    return path


@pytest.mark.parametrize(
    "make, complaint",
    [
        (lambda p: p.write_text("hello"), "is not a PEM file"),
        (lambda p: _write(p, ec.generate_private_key(ec.SECP384R1())), "an EC key on secp384r1"),
        (
            lambda p: _write(p, ed25519.Ed25519PrivateKey.generate()),
            "is an Ed25519 key; exeunt signs with RSA (RS256) or EC P-256",
        ),
        (lambda p: _write(p, ec.generate_private_key(ec.SECP256R1()), b"pw"), "is encrypted"),
        (lambda p: _write(p, rsa.generate_private_key(public_exponent=65537, key_size=1024)), "1024-bit RSA key"),
        (
            lambda p: p.write_bytes(
                ec.generate_private_key(ec.SECP256R1())
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            ),
            "not a PEM private key",
        ),
    ],
)
def test_a_key_file_exeunt_cannot_sign_with_is_refused_in_one_sentence(tmp_path: Path, make, complaint: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "key.pem"
    make(path)
    with pytest.raises(KeyFileError, match=re.escape(complaint)):
        load_key_file(str(path))
    with pytest.raises(ConfigError) as caught:
        load_config({"EXEUNT_SIGNING_KEY_FILES": str(path)})
    assert "EXEUNT_SIGNING_KEY_FILES" in str(caught.value) and str(path) in str(caught.value)


def test_a_p256_key_file_is_accepted(tmp_path: Path) -> None:
    path = _write(tmp_path / "key.pem", ec.generate_private_key(ec.SECP256R1()))
    assert load_config({"EXEUNT_SIGNING_KEY_FILES": str(path)}).signing_key_files == (path,)
