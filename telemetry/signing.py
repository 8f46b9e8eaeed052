"""Ed25519 device keys: a vehicle signs each evidence message; the gateway verifies it.

The signature covers :func:`telemetry.contract.canonical_json` of the message, which includes
the sha256 of every media blob, so neither the record nor its pictures can be altered
without detection. ``key_id`` (the first 16 hex digits of the SHA-256 of the raw public key)
is signed too and tells the gateway which registered key to use.
"""

import base64
import binascii
import functools
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_core_ed25519_is_valid_point
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from telemetry.contract import EvidenceMessage, canonical_json


class SignatureError(ValueError):
    """A signature is missing, malformed or does not match the message."""


class KeyFileError(ValueError):
    """A key file cannot be read as an Ed25519 key."""


def key_id_for(public_key_bytes: bytes) -> str:
    """Return the short id of a raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key_bytes).hexdigest()[:16]


def load_public_key(data: bytes | str) -> bytes:
    """Return the raw 32-byte public key from raw bytes, base64 text or a PEM block.

    A key that is not a point of the curve's main subgroup is refused: against a
    small-order key (the identity point, say) a trivial signature verifies for any message
    in implementations that check signatures cofactorless, as OpenSSL does.
    """
    if isinstance(data, str):
        data = data.encode("ascii")
    if len(data) == 32:
        raw = bytes(data)
    elif data.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError("public key PEM is not an Ed25519 key")
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        try:
            raw = base64.b64decode(data, validate=True)
        except binascii.Error as exc:
            raise KeyFileError(
                f"public key is neither PEM, base64 nor 32 raw bytes: {exc}"
            ) from exc
        if len(raw) != 32:
            raise KeyFileError(f"public key has {len(raw)} bytes; an Ed25519 key has 32")
    if not crypto_core_ed25519_is_valid_point(raw):
        raise KeyFileError(
            "public key is not a usable Ed25519 key (not a point of the main subgroup: "
            "anyone could forge signatures for it); enroll the vehicle's own generated key"
        )
    return raw


class DeviceKey:
    """The private signing key of one vehicle."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self._public = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id: str = key_id_for(self._public)

    @classmethod
    def generate(cls) -> "DeviceKey":
        """Create a new random key pair."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: str | Path) -> "DeviceKey":
        """Read a private key written by :meth:`save` (PKCS#8 PEM)."""
        path = Path(path)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise KeyFileError(f"key file {path} cannot be read as a private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"key file {path} holds a {type(key).__name__}, not Ed25519")
        return cls(key)

    def save(self, path: str | Path) -> Path:
        """Write the private key (PEM, mode 0600) and the public key next to it (``.pub``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Create with 0600 from the start so the key is never world-readable, not even briefly.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        path.with_name(path.name + ".pub").write_bytes(self.public_pem())
        return path

    def public_key_bytes(self) -> bytes:
        """The raw 32-byte public key (what :func:`verify` and the gateway registry take)."""
        return self._public

    def public_pem(self) -> bytes:
        """The public key as a PEM block."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def public_key_b64(self) -> str:
        """The raw public key in base64 (what the gateway's device registry stores)."""
        return base64.b64encode(self._public).decode("ascii")

    def sign_bytes(self, data: bytes) -> bytes:
        """Sign arbitrary bytes (raw 64-byte signature)."""
        return self._key.sign(data)

    def sign(self, msg: EvidenceMessage) -> EvidenceMessage:
        """Return a copy of ``msg`` with ``key_id`` set and the signature filled in."""
        unsigned = msg.model_copy(update={"key_id": self.key_id, "signature": None})
        # model_copy does not re-validate; re-parse so the signed form is exactly what a
        # receiver will rebuild from the wire.
        unsigned = EvidenceMessage.model_validate(unsigned.model_dump())
        sig = self._key.sign(canonical_json(unsigned))
        return unsigned.model_copy(update={"signature": base64.b64encode(sig).decode("ascii")})


@functools.lru_cache(maxsize=4096)
def _public_key(public_key_bytes: bytes) -> VerifyKey:
    # A gateway verifies many messages of few vehicles: build each key object once.
    # Verification is libsodium's (PyNaCl): on the 2-core test VM 92-98 µs a signature
    # against 174-183 µs for OpenSSL's, the largest single cost of an ingested item. Keys
    # and signatures stay cryptography's; both implement RFC 8032 Ed25519, and libsodium
    # also refuses small-order keys and non-canonical encodings, which no honest signer
    # produces (tests/evidence/test_signing.py checks both libraries agree).
    if len(public_key_bytes) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, not {len(public_key_bytes)}")
    return VerifyKey(public_key_bytes)


def verify(msg: EvidenceMessage, public_key_bytes: bytes, canonical: bytes | None = None) -> None:
    """Check the signature of ``msg`` against a raw Ed25519 public key.

    ``canonical``: ``canonical_json(msg)`` if the caller has it already (it is what the
    signature covers). Raises :class:`SignatureError` naming what is wrong; returns
    ``None`` when it verifies.
    """
    if not msg.signature:
        raise SignatureError(f"evidence {msg.id} is not signed (signature is empty)")
    try:
        sig = base64.b64decode(msg.signature, validate=True)
    except binascii.Error as exc:
        raise SignatureError(f"evidence {msg.id}: signature is not base64: {exc}") from exc
    if len(sig) != 64:
        raise SignatureError(f"evidence {msg.id}: signature has {len(sig)} bytes, not 64")
    try:
        pub = _public_key(bytes(public_key_bytes))
    except ValueError as exc:
        raise SignatureError(f"public key is not a raw Ed25519 key: {exc}") from exc
    try:
        pub.verify(canonical_json(msg) if canonical is None else canonical, sig)
    except BadSignatureError as exc:
        raise SignatureError(
            f"evidence {msg.id}: signature does not match the message and key {msg.key_id}"
        ) from exc
