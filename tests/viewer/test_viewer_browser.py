"""The viewer in a real headless browser: Playwright driving the system's Chromium (Debian's ``chromium`` package;
``.ci/run`` installs it, no browser is ever downloaded). The issue's flow: open the case table, sort it, open a case,
toggle a Grad-CAM map on the frame, correct an attribute and see the probability change, take a screenshot.
Skipped only when no Chromium binary is found."""

import os
import shutil

import pytest

from explainendo.viewer.app import background_server, create_app


def chromium() -> str | None:
    """The Chromium to drive: $EXPLAINENDO_CHROMIUM, else ``chromium`` / ``chromium-browser`` on the PATH."""
    for candidate in (os.environ.get("EXPLAINENDO_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def test_table_sort_case_heatmap_correction_in_chromium(viewer_run, tmp_path):
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import expect, sync_playwright

    app = create_app(viewer_run["out"], model=viewer_run["model"])
    with background_server(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url + "/")
            expect(page.locator("#count")).to_contain_text("9 of 9 cases")

            # sort by probability, highest first (two clicks on the header)
            page.click("th[data-sort=probability] a")
            page.click("th[data-sort=probability] a")
            expect(page.locator("th[data-sort=probability]")).to_contain_text("▼")
            shown = [float(t) for t in page.locator("tr[data-case] td.probability").all_inner_texts() if t != "–"]
            assert shown == sorted(shown, reverse=True) and len(shown) == 8

            # open the most confident case
            page.click("tr[data-case] a.case-link >> nth=0")
            expect(page.locator("#frame-image")).to_be_visible()
            assert page.evaluate("document.getElementById('frame-image').naturalWidth") == 64
            expect(page.locator("rect.box.primary")).to_have_count(1)
            expect(page.locator("#case")).to_have_attribute("data-explained", "1", timeout=60_000)
            expect(page.locator("#contributions .row").first).to_be_visible()

            # toggle the tone head's Grad-CAM on the frame, and off again
            page.click("#maps button[data-map=tone]")
            expect(page.locator("#case")).to_have_attribute("data-cam-loaded", "tone", timeout=30_000)
            expect(page.locator("#cam-layer image")).to_have_attribute("href", "/api/cases/"
                                                                          + page.get_attribute("#case", "data-case")
                                                                          + "/maps/tone.png")
            page.click("#maps button[data-map=tone]")
            expect(page.locator("#cam-layer image")).to_have_count(0)
            page.click("#maps button[data-map=boundary]")
            expect(page.locator("#maps button[data-map=boundary]")).to_have_attribute("aria-pressed", "true")

            # correct attributes: the diagnosis is made again and its probability changes
            before = page.inner_text("#diagnosis-label"), page.inner_text("#diagnosis-probability")
            page.select_option("select[name=tone]", "reddened")
            page.select_option("select[name=boundary]", "clear")
            page.click("#rediagnose")
            expect(page.locator("#new-diagnosis")).to_be_visible(timeout=60_000)
            after = page.inner_text("#new-label"), page.inner_text("#new-probability")
            assert after != before, (before, after)
            expect(page.locator("#probabilities td.after").first).to_contain_text("→")
            expect(page.locator("#new-diagnosis")).to_contain_text("boundary = clear, tone = reddened")

            shot = tmp_path / "viewer_case.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            assert not errors, errors
        finally:
            browser.close()
