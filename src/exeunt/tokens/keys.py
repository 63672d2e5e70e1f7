"""The key ring: which key signs now, which public keys the JWKS publishes, key generation."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from exeunt.errors import KeyFileError
from exeunt.security import b64url

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def generate_private_key(alg: str) -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported signing algorithm {alg}")


def private_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_jwk(key: PrivateKey) -> dict[str, Any]:
    members: tuple[str, ...]
    if isinstance(key, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        members = ("e", "kty", "n")
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        members = ("crv", "kty", "x", "y")
    jwk.pop("key_ops", None)  # we publish "use": "sig" instead (RFC 7517 §4.3: not both)
    # RFC 7638 thumbprint: the required members, sorted, no whitespace.
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    jwk["kid"] = b64url(hashlib.sha256(canonical.encode()).digest())
    return jwk


def alg_of(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError("only RSA and P-256 keys are supported")


@dataclass(frozen=True)
class KeyRecord:
    """A signing key as storage keeps it: the private PEM, and when it signs."""

    kid: str
    alg: str
    private_pem: str
    created_at: datetime
    signs_from: datetime
    retired_at: datetime | None


MIN_RSA_BITS = 2048


def load_key_file(path: str) -> tuple[bytes, PrivateKey]:
    """Read a PEM private key exeunt can sign with (RSA of 2048+ bits, or EC P-256), or say why not."""
    try:
        with open(path, "rb") as fh:
            pem = fh.read()
    except OSError as exc:
        raise KeyFileError(f"cannot be read ({exc.strerror})") from exc
    if b"-----BEGIN" not in pem:
        raise KeyFileError("is not a PEM file; give a private key in PEM form (-----BEGIN PRIVATE KEY-----)")
    if b"ENCRYPTED" in pem:
        raise KeyFileError("is encrypted; store it unencrypted (openssl pkey -in KEY -out PLAIN) and protect the file")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as exc:
        raise KeyFileError("is encrypted; store it unencrypted and protect the file instead") from exc
    except ValueError as exc:
        raise KeyFileError("is not a PEM private key (a certificate or public key will not do)") from exc
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyFileError(f"is a {key.key_size}-bit RSA key; use at least {MIN_RSA_BITS} bits")
        return pem, key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return pem, key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        kind = f"an EC key on {key.curve.name}"
    else:
        kind = "an " + type(key).__name__.removesuffix("PrivateKey") + " key"
    raise KeyFileError(f"is {kind}; exeunt signs with RSA (RS256) or EC P-256 (ES256) keys only")


def records_from_pem_files(paths: list[str], now: datetime) -> list[KeyRecord]:
    """Keys given as PEM files: the first one signs, the others are published (and verify)."""
    records = []
    for index, path in enumerate(paths):
        pem, key = load_key_file(path)
        epoch = datetime.fromtimestamp(0, now.tzinfo)
        records.append(
            KeyRecord(
                kid=public_jwk(key)["kid"],
                alg=alg_of(key),
                private_pem=pem.decode(),
                created_at=epoch,
                signs_from=epoch + timedelta(seconds=len(paths) - index),
                retired_at=None,
            )
        )
    return records


def new_key_record(alg: str, now: datetime, *, signs_from: datetime | None = None) -> KeyRecord:
    key = generate_private_key(alg)
    return KeyRecord(
        kid=public_jwk(key)["kid"],
        alg=alg,
        private_pem=private_pem(key),
        created_at=now,
        signs_from=signs_from or now,
        retired_at=None,
    )


@dataclass(frozen=True)
class LoadedKey:
    record: KeyRecord
    private: PrivateKey
    jwk: dict[str, Any]

    @property
    def kid(self) -> str:
        return self.record.kid

    @property
    def alg(self) -> str:
        return self.record.alg


@functools.lru_cache(maxsize=64)
def _private_key(pem: str) -> PrivateKey:
    """A stored key, parsed once per process (an RSA key takes milliseconds to load and check; the
    ring is rebuilt every second)."""
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return private


class KeyRing:
    """Keys of this installation, loaded from storage (or PEM files).  Immutable; build a new one to refresh.

    A key signs from ``signs_from`` until ``retired_at``.  It is published from its creation (so
    clients caching the JWKS see a rotated-in key before it signs) until ``publish_after_retire``
    has passed since it was retired (so tokens it signed still verify).
    """

    def __init__(self, records: list[KeyRecord], *, publish_after_retire: timedelta) -> None:
        self._keys: dict[str, LoadedKey] = {}
        for record in records:
            private = _private_key(record.private_pem)
            jwk = public_jwk(private)
            jwk.update(kid=record.kid, alg=record.alg, use="sig")
            self._keys[record.kid] = LoadedKey(record, private, jwk)
        self._publish_after_retire = publish_after_retire

    def published(self, now: datetime) -> list[LoadedKey]:
        return [
            k
            for k in self._keys.values()
            if k.record.retired_at is None or now < k.record.retired_at + self._publish_after_retire
        ]

    def jwks(self, now: datetime) -> dict[str, Any]:
        return {"keys": [k.jwk for k in self.published(now)]}

    def signing_key(self, alg: str, now: datetime) -> LoadedKey | None:
        """The newest key for ``alg`` whose signing period has begun and not ended."""
        ready = [
            k
            for k in self._keys.values()
            if k.alg == alg
            and k.record.signs_from <= now
            and (k.record.retired_at is None or now < k.record.retired_at)
        ]
        return max(ready, key=lambda k: k.record.signs_from, default=None)

    def signing_key_for(self, client_alg: str | None, default_alg: str, now: datetime) -> LoadedKey | None:
        """The key for a client's ``id_token_signed_response_alg`` (else the provider's default).

        Never a key of another algorithm: a client that registered ES256 rejects an RS256 token, so
        no key for its algorithm means no token (the caller says so), not a token it cannot use.
        """
        return self.signing_key(client_alg or default_alg, now)

    def signing_algorithms(self, now: datetime) -> list[str]:
        """The algorithms some key signs with now: what discovery offers clients."""
        return sorted({k.alg for k in self._keys.values() if self.signing_key(k.alg, now) is not None})

    def verification_key(self, kid: str) -> LoadedKey | None:
        """Any key of ours, retired or not: an id_token_hint is accepted long after it expired."""
        return self._keys.get(kid)

    def all(self) -> list[LoadedKey]:
        return list(self._keys.values())

    @property
    def algorithms(self) -> list[str]:
        return sorted({k.alg for k in self._keys.values()})
