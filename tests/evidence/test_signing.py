"""Device keys: sign, verify, detect tampering, key files."""

import base64
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from telemetry.contract import EvidenceMessage, MediaRef, parse_evidence
from telemetry.signing import DeviceKey, KeyFileError, SignatureError, load_public_key, verify

Factory = Callable[..., EvidenceMessage]


def test_signed_message_verifies_after_wire_round_trip(evidence: Factory) -> None:
    key = DeviceKey.generate()
    signed = key.sign(evidence())
    assert signed.key_id == key.key_id
    received = parse_evidence(signed.to_json())
    verify(received, key.public_key_bytes())


@pytest.mark.parametrize(
    "change",
    [
        {"lat": 30.26},
        {"sequence": 8},
        {"media": (MediaRef(sha256="cd" * 32, size_bytes=1234),)},
        {"key_id": "0000000000000000"},
    ],
)
def test_tampering_is_detected(change: dict[str, object], evidence: Factory) -> None:
    key = DeviceKey.generate()
    signed = key.sign(evidence())
    tampered = signed.model_copy(update=change)
    with pytest.raises(SignatureError, match="does not match"):
        verify(tampered, key.public_key_bytes())


def test_other_key_unsigned_and_garbage_signatures_refused(evidence: Factory) -> None:
    key, other = DeviceKey.generate(), DeviceKey.generate()
    signed = key.sign(evidence())
    with pytest.raises(SignatureError, match="does not match"):
        verify(signed, other.public_key_bytes())
    with pytest.raises(SignatureError, match="not signed"):
        verify(evidence(), key.public_key_bytes())
    with pytest.raises(SignatureError, match="base64"):
        verify(signed.model_copy(update={"signature": "!!"}), key.public_key_bytes())
    short = base64.b64encode(b"x" * 10).decode()
    with pytest.raises(SignatureError, match="10 bytes"):
        verify(signed.model_copy(update={"signature": short}), key.public_key_bytes())


def test_key_file_round_trip_and_permissions(tmp_path: Path, evidence: Factory) -> None:
    key = DeviceKey.generate()
    path = key.save(tmp_path / "keys" / "uav-1.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = DeviceKey.load(path)
    assert again.public_key_bytes() == key.public_key_bytes()
    pub_pem = (tmp_path / "keys" / "uav-1.pem.pub").read_bytes()
    assert load_public_key(pub_pem) == key.public_key_bytes()
    assert load_public_key(key.public_key_b64) == key.public_key_bytes()
    verify(again.sign(evidence()), load_public_key(pub_pem))


def test_bad_key_file_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(KeyFileError, match=r"bad\.pem"):
        DeviceKey.load(bad)
    with pytest.raises(KeyFileError):
        load_public_key("AAAA")


def test_verification_agrees_with_cryptography_on_honest_and_altered_signatures(
    evidence: Factory,
) -> None:
    """The gateway verifies with libsodium (PyNaCl), the vehicle signs with cryptography:
    every honest signature verifies, and a changed bit of any signature is refused by both."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from telemetry.contract import canonical_json

    for n in range(40):
        key = DeviceKey.generate()
        signed = key.sign(evidence(sequence=n + 1, lat=30.0 + n / 1000))
        verify(signed, key.public_key_bytes())
        raw = bytearray(base64.b64decode(signed.signature or ""))
        raw[n % 64] ^= 1 << (n % 8)
        altered = signed.model_copy(update={"signature": base64.b64encode(raw).decode()})
        with pytest.raises(SignatureError, match="does not match"):
            verify(altered, key.public_key_bytes())
        openssl = Ed25519PublicKey.from_public_bytes(key.public_key_bytes())
        with pytest.raises(InvalidSignature):
            openssl.verify(bytes(raw), canonical_json(altered))


def test_a_small_order_key_is_refused_at_enrollment_and_at_verification(
    evidence: Factory,
) -> None:
    """Against the identity point as public key, R = identity and S = 0 is a "signature"
    of every message for a cofactorless check (OpenSSL's); both our checks refuse it."""
    identity = bytes([1]) + bytes(31)
    forged = evidence().model_copy(
        update={"signature": base64.b64encode(identity + bytes(32)).decode()}
    )
    with pytest.raises(KeyFileError, match="not a usable Ed25519 key"):
        load_public_key(identity)
    with pytest.raises(KeyFileError, match="not a usable Ed25519 key"):
        load_public_key(base64.b64encode(identity).decode())
    with pytest.raises(SignatureError, match="does not match"):
        verify(forged, identity)
