"""The console's scheduled patrols and mission report links in real headless Chromium (Debian's
package, driven by Playwright with an explicit executable path), against the real gateway on
uvicorn and the real Mosquitto:

- a supervisor sees the department's schedules, a run blocked by a failed preflight gate with
  the gate and its reason, pauses the schedule (checked through the API), and gets the
  scheduler's `preflight_failed` event, published over MQTT as `patrol run` publishes it, as a
  visible notice (screenshot test-output/gateway/05-schedules.png);
- the case page links a sortie's mission report only once the report exists. Making a report
  needs a flown sortie's record (tests/fleet/test_report.py does it); here the files are placed
  where `patrol sortie report` writes them and the gateway serves them for real.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from cases.db import make_engine, session_factory
from cases.models import MissionRecord, Sortie
from cases.schedules import ScheduleRun
from gateway.app import create_app
from tests.gateway.conftest import PASSWORD, LiveServer, World, as_user, with_config
from tests.gateway.test_browser import ARGS, CHROMIUM, OUT

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Debian's chromium is not installed (apt-get install -y chromium)",
)

REASON = "preflight gate battery: battery 20% is below the 60% needed for an automatic launch"


def _seed(world: World, schedule_id: int) -> None:
    """A run of the schedule blocked by its battery gate, and the seeded evidence's sortie."""
    engine = make_engine(world.url)
    try:
        with session_factory(engine)() as session:
            session.add(
                ScheduleRun(
                    schedule_id=schedule_id,
                    due_at=datetime(2026, 12, 1, 1, tzinfo=UTC),
                    decision="blocked",
                    status="blocked",
                    reason=REASON,
                    vehicle_id="uav-1",
                    gates=[
                        {"gate": "healthy", "ok": True, "detail": "pre-arm checks pass"},
                        {"gate": "battery", "ok": False, "detail": "battery 20% < 60%"},
                    ],
                )
            )
            session.add(MissionRecord(id="m-seed", site_id=world.site_id, plan={}))
            session.add(
                Sortie(id="s-seed", mission_id="m-seed", vehicle_id="uav-1", status="completed")
            )
            session.commit()
    finally:
        engine.dispose()


def test_console_schedules_gate_notice_pause_and_report_link(world: World) -> None:
    from playwright.sync_api import sync_playwright

    from patrol.scheduler.notify import EventNotifier

    sup = as_user(world, "super")
    config = with_config(world, mqtt_host="127.0.0.1", mqtt_port=1883)
    app = create_app(config)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as api:
        r = api.post(
            "/api/schedules",
            headers=sup,
            json={
                "name": "工业园每日巡查",
                "site_id": world.site_id,
                "rrule": "FREQ=DAILY;BYHOUR=9",
                "vehicles": ["uav-1"],
                "mission": {"pattern": "perimeter", "altitude_agl_m": 40},
            },
        )
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        _seed(world, sid)

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            notifier = EventNotifier("127.0.0.1", 1883).start()
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1100})
                page.goto(server.url + "/")
                page.fill("#username", "super")
                page.fill("#password", PASSWORD)
                page.click("#login-button")
                row = f"#schedules tr[data-schedule='{sid}']"
                page.wait_for_selector(f"{row}[data-state='active']")
                assert "工业园每日巡查" in (page.text_content(row) or "")

                # The run blocked by its battery gate: which gate, what it found, why.
                page.click(f"{row} button.show-runs")
                gate = "#runs .gate-failed[data-gate='battery']"
                page.wait_for_selector(gate)
                failed = page.text_content(gate) or ""
                assert "battery 20% < 60%" in failed and "电量" in failed
                assert page.locator("#runs .gate-ok[data-gate='healthy']").count() == 1
                run = page.locator("#runs tbody tr").first
                assert "起飞前检查拦截" in (run.text_content() or "")
                assert REASON in (run.text_content() or "")

                # Pause it: the schedule is paused on record.
                page.click(f"{row} button.pause")
                page.wait_for_selector(f"{row}[data-state='paused'] button.resume")
                assert api.get(f"/api/schedules/{sid}", headers=sup).json()["state"] == "paused"

                # The scheduler's event over the real broker becomes a visible notice.
                page.wait_for_function(
                    "document.querySelector('#live-status').textContent === '实时数据已连接'"
                )
                vehicle = f"uav-{uuid.uuid4().hex[:8]}"
                notice = ".notice[data-event='preflight_failed']"
                detail = {
                    "schedule_id": sid,
                    "run_id": 1,
                    "due_at": "2026-12-01T01:00:00+00:00",
                    "gate": "battery",
                    "reason": REASON,
                }
                deadline = time.monotonic() + 15
                # The hub subscribes once connected; repeat until the stream carries it.
                while not page.locator(notice).count():
                    assert time.monotonic() < deadline, "no notice of the failed gate"
                    if app.state.hub.connected:
                        notifier.publish(
                            world.site_id, vehicle, "preflight_failed", detail, datetime.now(UTC)
                        )
                    page.wait_for_timeout(400)
                text = page.locator(notice).first.text_content() or ""
                assert "起飞前检查未通过" in text and REASON in text and vehicle in text
                assert page.locator(notice).first.is_visible()
                OUT.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(OUT / "05-schedules.png"), full_page=True)

                # A case page links the sortie's report only once the report exists.
                number = world.case_numbers[0]
                page.click(f"#cases tr[data-number='{number}']")
                page.wait_for_selector(
                    f"#case-reports-box[data-checked='{number}']", state="attached"
                )
                assert page.locator("#case-reports-box").is_hidden()
                folder = world.home / "reports" / "s-seed"
                folder.mkdir(parents=True)
                (folder / "report.html").write_text("<h1>巡查任务报告 s-seed</h1>", "utf-8")
                (folder / "report.pdf").write_bytes(b"%PDF-1.4 report")
                page.click("#case-close")
                page.click(f"#cases tr[data-number='{number}']")
                link = "#case-reports li[data-sortie='s-seed'] a.report-html"
                page.wait_for_selector(link)
                assert page.locator("#case-reports li a.report-pdf").count() == 1
                with page.expect_popup() as popup:
                    page.click(link)
                report = popup.value
                report.wait_for_load_state()
                assert "巡查任务报告 s-seed" in (report.text_content("h1") or "")

                page.click("#lang")
                assert "Preflight check failed" in (page.locator(notice).first.text_content() or "")
                assert page.locator(f"{row} button.resume").text_content() == "Resume"
            finally:
                notifier.stop()
                browser.close()
