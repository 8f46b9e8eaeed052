"""Mosquitto for the evidence path: configuration files and a broker process runner.

:func:`write_production_config` writes what a production Mosquitto needs for FieldPatrol:
a password file (PBKDF2-SHA512, Mosquitto's ``$7$`` format), a per-device ACL (a vehicle
may publish only under its own vehicle id; the gateway reads everything), and TLS with a
generated CA, server certificate and client certificates. :class:`MosquittoProcess` starts
``/usr/sbin/mosquitto`` with a configuration (tests, benchmarks, ``patrol broker run``).
"""

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from telemetry.contract.topics import TOPIC_ROOT, check_id

MOSQUITTO = "/usr/sbin/mosquitto"

#: Broker limits the evidence path relies on: a long offline queue (the ingest may be down
#: for a while), a wide in-flight window (throughput) and periodic persistence.
RELIABILITY_SETTINGS = """\
persistence true
autosave_interval 5
max_queued_messages 1000000
max_inflight_messages 1000
max_packet_size 16777216
persistent_client_expiration 14d
set_tcp_nodelay true
log_type error
log_type warning
log_type notice
"""


class BrokerError(RuntimeError):
    """The broker could not be configured or started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- passwords ----------------------------------------------------------------------------


def password_hash(password: str, *, iterations: int = 101, salt: bytes | None = None) -> str:
    """Mosquitto 2 password-file hash (``$7$``: PBKDF2-HMAC-SHA512, 12-byte salt)."""
    salt = salt if salt is not None else secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


# -- certificates -------------------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server_names: list[str] | None = None,
    client: bool = False,
    days: int = 825,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
    if server_names:
        alt: list[x509.GeneralName] = []
        for n in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                alt.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    if client:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# -- production configuration -------------------------------------------------------------


@dataclass
class BrokerConfig:
    """Files written by :func:`write_production_config` and the credentials they hold."""

    directory: Path
    config: Path
    password_file: Path
    acl_file: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    port: int
    passwords: dict[str, str] = field(default_factory=dict)
    client_certs: dict[str, tuple[Path, Path]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready description (passwords are not included; they are in ``secrets``)."""
        return {
            "directory": str(self.directory),
            "config": str(self.config),
            "password_file": str(self.password_file),
            "acl_file": str(self.acl_file),
            "ca_cert": str(self.ca_cert),
            "server_cert": str(self.server_cert),
            "port": self.port,
            "users": sorted(self.passwords),
            "client_certs": {u: [str(c), str(k)] for u, (c, k) in self.client_certs.items()},
        }


def acl_text(vehicles: list[str], gateway_user: str) -> str:
    """The ACL: each vehicle writes only its own topics; the gateway reads all of them."""
    lines = [
        "# FieldPatrol ACL, generated by `patrol broker config`.",
        "# A vehicle may publish only under its own vehicle id (any site), and read nothing.",
        f"user {gateway_user}",
        f"topic read {TOPIC_ROOT}/#",
        "",
    ]
    for vehicle in vehicles:
        lines += [f"user {vehicle}", f"topic write {TOPIC_ROOT}/+/{vehicle}/#", ""]
    return "\n".join(lines)


def write_production_config(
    directory: str | Path,
    vehicles: list[str],
    *,
    port: int = 8883,
    bind: str = "0.0.0.0",
    server_names: list[str] | None = None,
    gateway_user: str = "gateway",
    passwords: dict[str, str] | None = None,
    data_dir: str | Path | None = None,
) -> BrokerConfig:
    """Write a Mosquitto configuration for FieldPatrol into ``directory``.

    Users: one per vehicle (user name = vehicle id) and ``gateway_user``; passwords are
    generated unless given. TLS: a new CA, a server certificate for ``server_names``
    (default ``localhost`` and ``127.0.0.1``) and a client certificate per user.
    Anonymous clients are refused; plain TCP is not offered.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for v in vehicles:
        check_id("vehicle_id", v)
    if gateway_user in vehicles:
        raise BrokerError(f"gateway user {gateway_user!r} is also a vehicle id; rename one")
    users = [gateway_user, *vehicles]
    given = dict(passwords or {})
    secrets_map = {u: given.get(u) or secrets.token_urlsafe(18) for u in users}

    ca_key = _key()
    ca_cert = _cert("FieldPatrol broker CA", ca_key, None, ca_key, ca=True, days=3650)
    server_key = _key()
    names = server_names or ["localhost", "127.0.0.1"]
    server_cert = _cert(names[0], server_key, ca_cert.subject, ca_key, server_names=names)
    paths = {
        "ca": directory / "ca.crt",
        "ca_key": directory / "ca.key",
        "server": directory / "server.crt",
        "server_key": directory / "server.key",
        "passwd": directory / "passwd",
        "acl": directory / "acl",
        "conf": directory / "mosquitto.conf",
    }
    _write_cert(paths["ca"], ca_cert)
    _write_key(paths["ca_key"], ca_key)
    _write_cert(paths["server"], server_cert)
    _write_key(paths["server_key"], server_key)
    client_certs: dict[str, tuple[Path, Path]] = {}
    clients = directory / "clients"
    clients.mkdir(exist_ok=True)
    for user in users:
        key = _key()
        cert = _cert(user, key, ca_cert.subject, ca_key, client=True)
        cpath, kpath = clients / f"{user}.crt", clients / f"{user}.key"
        _write_cert(cpath, cert)
        _write_key(kpath, key)
        client_certs[user] = (cpath, kpath)

    fd = os.open(paths["passwd"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for user in users:
            fh.write(f"{user}:{password_hash(secrets_map[user])}\n")
    paths["acl"].write_text(acl_text(vehicles, gateway_user), encoding="utf-8")
    secrets_file = directory / "secrets.txt"
    fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# user password (keep this file secret; hand each vehicle its own line)\n")
        for user in users:
            fh.write(f"{user} {secrets_map[user]}\n")

    data = Path(data_dir) if data_dir else directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    conf = f"""\
# FieldPatrol production Mosquitto configuration, generated by `patrol broker config`.
per_listener_settings false
allow_anonymous false
password_file {paths["passwd"]}
acl_file {paths["acl"]}
{RELIABILITY_SETTINGS}persistence_location {data}/

listener {port} {bind}
protocol mqtt
cafile {paths["ca"]}
certfile {paths["server"]}
keyfile {paths["server_key"]}
tls_version tlsv1.2
require_certificate false
"""
    if os.geteuid() == 0:
        # Mosquitto drops root to user "mosquitto", which could not read these files.
        conf = "user root\n" + conf
    paths["conf"].write_text(conf, encoding="utf-8")
    return BrokerConfig(
        directory=directory,
        config=paths["conf"],
        password_file=paths["passwd"],
        acl_file=paths["acl"],
        ca_cert=paths["ca"],
        server_cert=paths["server"],
        server_key=paths["server_key"],
        port=port,
        passwords=secrets_map,
        client_certs=client_certs,
    )


def write_plain_config(directory: str | Path, port: int) -> Path:
    """A local, anonymous, persistent broker configuration (tests and benchmarks)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "mosquitto.conf"
    text = (
        ("user root\n" if os.geteuid() == 0 else "")
        + f"listener {port} 127.0.0.1\nallow_anonymous true\n"
        + RELIABILITY_SETTINGS
        + f"persistence_location {directory}/\n"
    )
    conf.write_text(text, encoding="utf-8")
    return conf


# -- process ------------------------------------------------------------------------------


class MosquittoProcess:
    """A Mosquitto broker started from ``config`` and listening on ``port``."""

    def __init__(self, config: str | Path, port: int, binary: str = MOSQUITTO) -> None:
        self.config = Path(config)
        self.port = port
        self.binary = binary
        self.log_path = self.config.with_suffix(".log")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (for monitoring its CPU and memory)."""
        return self._proc.pid if self.running and self._proc is not None else None

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until its port accepts connections."""
        if self.running:
            return
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child process
        try:
            self._proc = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-800:]
                raise BrokerError(
                    f"mosquitto exited at start (code {self._proc.returncode}): {tail}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop gracefully (SIGTERM: Mosquitto saves its persistence file), then wait."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def kill(self) -> None:
        """Kill at once (SIGKILL): what was not autosaved yet is lost by the broker."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def restart(self, timeout: float = 10.0) -> None:
        """Graceful stop, then start again with the same configuration."""
        self.stop(timeout)
        self.start(timeout)

    def __enter__(self) -> "MosquittoProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
