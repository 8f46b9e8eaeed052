"""Fixtures of the gateway tests: a migrated SQLite database with departments, users (with
passwords), a site, evidence and the cases it opened; the app in-process, or served by uvicorn
on a free port for WebSocket, browser and schemathesis tests."""

from __future__ import annotations

import io
import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cases.audit import LogKey
from cases.db import make_engine, session_factory, upgrade
from cases.evidence import EvidenceRecord, store_evidence
from cases.intake import attach_to_case
from cases.models import EvidenceMedia, SiteRecord
from cases.users import create_user
from gateway.app import GatewayConfig, create_app
from gateway.auth.passwords import set_password
from gateway.media import MediaStore

REPO = Path(__file__).resolve().parents[2]
SITE_FILE = REPO / "examples" / "sites" / "yuhong-t-site.geojson"
PASSWORD = "correct-horse-1"
USERS = {
    # username: (role, department, credential)
    "insp": ("inspector", "CG", "CG-0001"),
    "insp2": ("inspector", "CG", "CG-0002"),
    "head": ("head", "CG", "CG-0100"),
    "legal": ("legal_reviewer", "CG", None),
    "super": ("supervisor", "CG", None),
    "admin": ("admin", None, None),
    "zr": ("inspector", "ZR", "ZR-0001"),
}


def jpeg(color: tuple[int, int, int] = (120, 140, 90)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


@dataclass
class World:
    url: str
    home: Path
    config: GatewayConfig
    site_id: str
    evidence_ids: list[str]
    case_numbers: list[str]
    user_ids: dict[str, int]


def seed(home: Path, evidence: int = 3) -> World:
    url = f"sqlite:///{home / 'fieldpatrol.db'}"
    upgrade(url)
    engine = make_engine(url)
    store = MediaStore(home / "media")
    geo = json.loads(SITE_FILE.read_text(encoding="utf-8"))
    now = datetime.now(UTC)
    ev_ids: list[str] = []
    numbers: list[str] = []
    user_ids: dict[str, int] = {}
    with session_factory(engine)() as session:
        for name, (role, dept, cred) in USERS.items():
            user = create_user(
                session,
                name,
                f"User {name}",
                role,
                dept,
                credential_no=cred,
                credential_valid_until=(now + timedelta(days=365)).date() if cred else None,
            )
            set_password(session, user, PASSWORD)
            user_ids[name] = user.id
        session.add(SiteRecord(id="yuhong-t-site", name="于洪 T", department_id="CG", geojson=geo))
        session.flush()
        for i in range(evidence):
            stored = store.put(jpeg((40 * i % 255, 120, 90)))
            store.record(session, stored, "image/jpeg")
            ev_id = f"ev-{i:04d}"
            lon, lat = 123.406 + 0.002 * i, 41.7605
            store_evidence(
                session,
                EvidenceRecord(
                    id=ev_id,
                    device_seq=i,
                    vehicle_id="uav-1",
                    site_id="yuhong-t-site",
                    mission_id="m-seed",
                    sortie_id="s-seed",
                    captured_at=now - timedelta(minutes=10 - i),
                    lat=lat,
                    lon=lon,
                    alt_agl_m=50.0,
                    alt_amsl_m=92.0,
                    class_name="illegal_construction",
                    confidence=0.9,
                    box_px=[10, 10, 40, 30],
                    footprint_geojson={
                        "type": "Polygon",
                        "coordinates": [
                            [[lon, lat], [lon + 1e-4, lat], [lon + 1e-4, lat + 1e-4], [lon, lat]]
                        ],
                    },
                    media_sha256=[stored.sha256],
                    signature="sig",
                    raw_json="{}",
                ),
            )
            if not session.get(EvidenceMedia, (ev_id, stored.sha256)):
                session.add(EvidenceMedia(evidence_id=ev_id, sha256=stored.sha256, position=0))
            case = attach_to_case(session, ev_id)
            ev_ids.append(ev_id)
            if case.number not in numbers:
                numbers.append(case.number)
        session.commit()
    engine.dispose()
    config = GatewayConfig(
        url,
        home / "media",
        secret_key=b"k" * 32,
        home=home,
        log_key=LogKey.generate(),
        login_per_minute=600,
        login_burst=200,
        public_per_minute=600,
        public_burst=200,
    )
    return World(url, home, config, "yuhong-t-site", ev_ids, numbers, user_ids)


@pytest.fixture(scope="session")
def _template(tmp_path_factory: pytest.TempPathFactory) -> World:
    # Migrating and hashing seven passwords takes ~2 s: do it once, copy the files per test.
    return seed(tmp_path_factory.mktemp("template") / "home")


@pytest.fixture
def world(_template: World, tmp_path: Path) -> World:
    home = tmp_path / "home"
    shutil.copytree(_template.home, home)
    url = f"sqlite:///{home / 'fieldpatrol.db'}"
    config = replace(_template.config, database_url=url, media_dir=home / "media", home=home)
    return replace(_template, url=url, home=home, config=config)


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.config)) as c:
        yield c


def login(client: TestClient, username: str) -> dict[str, str]:
    """Bearer headers of ``username`` through the OAuth2 password flow."""
    r = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def as_user(world: World, username: str) -> dict[str, str]:
    """Bearer headers of ``username`` without the (argon2-costly) password flow, which
    ``login`` and test_auth exercise."""
    from gateway.auth import tokens

    value, _ = tokens.issue(world.config.secret_key, world.user_ids[username], username)
    return {"Authorization": f"Bearer {value}"}


class LiveServer:
    """The app served by uvicorn in a thread on a free port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        from patrol.services import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                ws="websockets-sansio" if _has_sansio() else "auto",
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _has_sansio() -> bool:
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
    except ImportError:
        return False
    return True


def with_config(world: World, **changes: Any) -> GatewayConfig:
    return replace(world.config, **changes)
