"""The console in real headless Chromium (Debian's package, driven by Playwright with an
explicit executable path): log in, see the map, plan and launch a simulated sortie and watch
the vehicle move, open a case, take one step. Screenshots go to test-output/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.app import create_app
from tests.gateway.conftest import PASSWORD, LiveServer, World, with_config

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


def test_console_login_map_launch_case_step(world: World) -> None:
    from playwright.sync_api import sync_playwright

    from patrol.commands.gateway import simulated_launcher

    OUT.mkdir(parents=True, exist_ok=True)
    config = with_config(world, launcher=simulated_launcher(speedup=10.0))
    number = world.case_numbers[0]
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
            page.wait_for_selector("#layer-evidence circle.evidence-marker")
            assert page.locator("#layer-exclusions path.exclusion").count() >= 1
            page.wait_for_selector(".shot .box")  # gallery with the detection box drawn
            page.screenshot(path=str(OUT / "01-map.png"), full_page=True)

            # Plan, check the estimates, confirm and launch; the vehicle moves on the map.
            page.select_option("#plan-pattern", "perimeter")
            page.click("#plan-button")
            page.wait_for_selector("#launch-confirm:not([hidden])")
            assert int(page.text_content("td[data-key=waypoints]") or 0) > 0
            assert page.locator("#layer-paths path.path").count() == 1
            page.click("#launch-button")
            page.wait_for_selector("#layer-tracks circle.vehicle-marker", timeout=90_000)
            first = page.get_attribute("#layer-tracks circle.vehicle-marker", "cx")
            page.wait_for_function(
                "c => document.querySelector('#layer-tracks circle.vehicle-marker')"
                ".getAttribute('cx') !== c",
                arg=first,
                timeout=60_000,
            )
            page.screenshot(path=str(OUT / "02-live-track.png"), full_page=True)

            # Open a case from the list and take the next step.
            page.click(f"#cases tbody tr[data-number='{number}']")
            page.wait_for_selector("#case-panel:not([hidden])")
            assert page.text_content("#case-state") == "suspected"
            page.select_option("#step-action", "confirm")
            page.fill("#step-reason", "现场核实：无规划许可的新建构筑物")
            page.click("#step-button")
            page.wait_for_function(
                "document.querySelector('#case-state').textContent === 'confirmed'"
            )
            assert page.locator("#case-steps li").count() == 1
            page.click("#lang")
            assert page.text_content("#cases-panel h2") == "Cases"
            page.screenshot(path=str(OUT / "03-case-step.png"), full_page=True)
        finally:
            browser.close()
    assert (OUT / "03-case-step.png").stat().st_size > 10_000
    assert shutil.which(CHROMIUM)
