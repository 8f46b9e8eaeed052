"""The console in real headless Chromium (Debian's package, driven by Playwright with an
explicit executable path): log in, plan and launch a simulated sortie and watch the vehicle
move on the map, then open a case THAT sortie produced and take one step; the sortie's mission
report, once built, is linked from the sortie's results and the case page and opens.

The launch flies the whole chain, as `patrol gateway serve --simulate` does: patrol's sortie
engine on the built-in simulator over real MAVLink, synthetic camera frames, the shipped
detector, evidence signed with the vehicle key, over the real Mosquitto into the ingest, and
into cases. Screenshots go to test-output/gateway/."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from cases.audit import AuditEntry
from cases.db import make_engine, session_factory
from cases.models import Sortie
from gateway.app import create_app
from tests.gateway.conftest import PASSWORD, LiveServer, World, as_user, with_config

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
OUT = Path(__file__).resolve().parents[2] / "test-output" / "gateway"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (apt-get install -y chromium)",
    ),
]


def test_console_launch_watch_and_step_the_case_the_sortie_produced(world: World) -> None:
    from playwright.sync_api import sync_playwright

    from patrol.config import Settings
    from patrol.gateway_launcher import SortieLauncher
    from patrol.ground import Ground
    from patrol.sortie_report import build_report

    OUT.mkdir(parents=True, exist_ok=True)
    # A vehicle id of this run's own: the broker is shared with other tests.
    vehicle = f"uav-{uuid.uuid4().hex[:8]}"
    settings = Settings(home=world.home, database_url=world.url, mqtt_configured=True)
    with Ground(settings, allow_private_broker=False) as ground:
        assert ground.broker is not None
        config = with_config(
            world,
            launcher=SortieLauncher(ground, speedup=50.0),
            mqtt_host=ground.broker.host,
            mqtt_port=ground.broker.port,
        )
        with LiveServer(create_app(config)) as server, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1100})
                page.goto(server.url + "/")
                page.wait_for_selector("#login-form")
                assert page.locator("html").get_attribute("lang") == "zh-CN"
                page.fill("#username", "insp")
                page.fill("#password", "wrong-password")
                page.click("#login-button")
                page.wait_for_selector("#login-error:not(:empty)")
                page.fill("#password", PASSWORD)
                page.click("#login-button")
                page.wait_for_selector("#layer-sites path.site")
                assert page.locator("#layer-exclusions path.exclusion").count() >= 1
                page.wait_for_selector(".shot .box")  # gallery with the detection box drawn
                page.screenshot(path=str(OUT / "01-map.png"), full_page=True)

                # Plan, check the estimates, confirm and launch; the vehicle moves on the map.
                page.select_option("#plan-pattern", "perimeter")
                page.fill("#plan-alt", "60")
                page.click("#plan-button")
                page.wait_for_selector("#launch-confirm:not([hidden])")
                assert int(page.text_content("td[data-key=waypoints]") or 0) > 0
                assert page.locator("#layer-paths path.path").count() == 1
                page.fill("#launch-vehicle", vehicle)
                page.click("#launch-button")
                marker = f"#layer-tracks circle.vehicle-marker[data-vehicle='{vehicle}']"
                page.wait_for_selector(marker, timeout=60_000)
                first = page.get_attribute(marker, "cx")
                page.wait_for_function(
                    "([sel, c]) => document.querySelector(sel).getAttribute('cx') !== c",
                    arg=[marker, first],
                    timeout=60_000,
                )
                page.screenshot(path=str(OUT / "02-live-track.png"), full_page=True)

                # The sortie lands; its evidence is in; the console lists the cases it made.
                page.wait_for_selector("#sortie-results:not([hidden])", timeout=150_000)
                sortie_id = page.get_attribute("#sortie-results", "data-sortie") or ""
                assert sortie_id.startswith("s-")
                assert "已完成" in (page.text_content("#sortie-summary") or "")
                rows = page.locator("#sortie-cases tbody tr")
                assert rows.count() >= 1
                page.screenshot(path=str(OUT / "03-sortie-results.png"), full_page=True)
                # Its mission report, made by the engine's report builder (`patrol sortie
                # report`); the console links it once it exists.
                build_report(ground, sortie_id)

                # Open the first case the sortie produced: its evidence is this sortie's.
                number = rows.first.get_attribute("data-number") or ""
                rows.first.click()
                page.wait_for_selector("#case-panel:not([hidden])")
                assert page.text_content("#case-number") == number
                page.wait_for_selector("#case-gallery .shot .box")
                h = as_user(world, "insp")
                with httpx.Client(base_url=server.url, headers=h, timeout=30) as api:
                    case = api.get(f"/api/cases/{number}").json()
                    sorties = {
                        api.get(f"/api/evidence/{e}").json()["sortie_id"]
                        for e in case["evidence_ids"]
                    }
                assert sortie_id in sorties
                assert page.text_content("#case-state") == "suspected"

                # Take one step in the procedure.
                page.select_option("#step-action", "confirm")
                page.fill("#step-reason", "现场核实：巡查发现的疑似违法行为属实")
                page.click("#step-button")
                page.wait_for_function(
                    "document.querySelector('#case-state').textContent === 'confirmed'"
                )
                assert page.locator("#case-steps li").count() == len(case["steps"]) + 1
                page.wait_for_selector(
                    f"#sortie-cases tr[data-number='{number}'] td:text-is('confirmed')"
                )
                page.wait_for_selector(
                    f"#case-reports li[data-sortie='{sortie_id}'] a.report-pdf", state="attached"
                )
                page.wait_for_selector("#sortie-report-pdf:not([hidden])", state="attached")
                with page.expect_popup() as popup:
                    page.click("#sortie-report-html")
                popup.value.wait_for_load_state()
                assert sortie_id in (popup.value.text_content("h1") or "")
                popup.value.close()
                page.screenshot(path=str(OUT / "04-case-step.png"), full_page=True)
                page.click("#lang")
                assert page.text_content("#cases-panel h2") == "Cases"
            finally:
                browser.close()

    # The record: the sortie completed, launched by the user, flown and landed by the engine.
    engine = make_engine(world.url)
    try:
        with session_factory(engine)() as session:
            row = session.get(Sortie, sortie_id)
            assert row is not None and row.status == "completed" and row.vehicle_id == vehicle
            acts = session.execute(
                select(AuditEntry.actor, AuditEntry.action).where(
                    AuditEntry.subject == f"sortie:{sortie_id}"
                )
            ).all()
    finally:
        engine.dispose()
    assert ("user:insp", "sortie.launch") in acts
    assert {"sortie.flying", "sortie.completed", "vehicle.landed"} <= {a for _, a in acts}
    assert (OUT / "04-case-step.png").stat().st_size > 10_000
