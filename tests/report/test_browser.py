"""The HTML report in a real browser: Debian's Chromium, headless, driven by Playwright (no browser download).

JavaScript off (the report must not need it): the page renders, makes no request but for itself and its embedded
images, logs no error, and its screenshot is not blank. JavaScript on: every figure decoded at its full size.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageStat

from tests.gates import CHROMIUM, needs_chromium

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@needs_chromium
def test_report_renders_in_chromium(report: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert CHROMIUM is not None, "CI must install Debian's chromium (see .ci/run)"
    index = (report / "index.html").resolve()
    shot = tmp_path / "report.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(java_script_enabled=False, viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            requests: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            response = page.goto(index.as_uri(), wait_until="load")
            assert response is not None and response.ok
            page.screenshot(path=str(shot), full_page=True)
            title = page.title()
            headings = page.locator("h2").all_inner_texts()
            figures = page.locator("figure img").count()
            best = page.locator("td.best").count()

            scripted = browser.new_page(viewport={"width": 1280, "height": 900})
            scripted.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            scripted.on("pageerror", lambda e: errors.append(str(e)))
            scripted.goto(index.as_uri(), wait_until="load")
            sizes = scripted.evaluate("Array.from(document.images, i => [i.complete, i.naturalWidth, i.naturalHeight])")
        finally:
            browser.close()

    assert errors == []
    assert all(url == index.as_uri() or url.startswith("data:") for url in requests), requests
    assert title == "medldr report" and headings == ["Summary", "Tables", "Figures", "Provenance"]
    assert figures == 6 and best > 10
    assert len(sizes) == 6 and all(done and width >= 1000 and height >= 600 for done, width, height in sizes)
    with Image.open(shot) as image:
        assert image.width == 1280 and image.height > 5000  # the whole page: tables, six figures, provenance
        rgb = image.convert("RGB")
        assert max(ImageStat.Stat(rgb).stddev) > 20  # not a blank page
        assert len(rgb.getcolors(1 << 24) or []) > 200  # text, tables and plots, not a flat error page


def _overflowing_tables(index: Path) -> list[str]:
    """Ids of the tables wider than their box at 1280 px (they would hide behind a scrollbar)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(index.resolve().as_uri(), wait_until="load")
            return page.evaluate(
                "Array.from(document.querySelectorAll('.table-wrap')).filter(w => w.scrollWidth > w.clientWidth + 1)"
                ".map(w => w.id)"
            )
        finally:
            browser.close()


@needs_chromium
def test_no_table_needs_a_scrollbar_at_1280px(report: Path, scored_runs: list[Path], tmp_path: Path) -> None:
    """Issue 19: the reliability and usage tables of a 3-run report overflowed behind a scrollbar at 1280 px. Checked
    for the 3-run report and a 4-run one."""
    import shutil

    from tests.conftest import run_cli

    assert _overflowing_tables(report / "index.html") == []
    fourth = tmp_path / "fourth-run-with-a-long-name"
    shutil.copytree(scored_runs[0], fourth, ignore=shutil.ignore_patterns(".medldr.lock"))
    out = tmp_path / "report4"
    made = run_cli("report", *map(str, scored_runs), str(fourth), "--out", str(out), "--resamples", "50")
    assert made.returncode == 0, made.stderr
    assert _overflowing_tables(out / "index.html") == []
