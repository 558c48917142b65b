"""The report in a real browser: headless Chromium renders every plot, logs no error, fetches nothing remote."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.support.chromium import chromium_path, inspect_page

SHOT_DIR = Path(os.environ.get("POWERTRAIN_SCREENSHOT_DIR", "."))


@pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (scripts/setup.sh --test installs it)")
def test_report_renders_in_headless_chromium(full_report, tmp_path):
    result = full_report
    shot = tmp_path / "report.png"
    page = inspect_page(result.html, shot)
    assert page.title == "powertrain energy report"
    assert len(page.images) == result.plot_count >= 10
    for image in page.images:
        assert image["complete"] and image["natural_w"] > 0 and image["natural_h"] > 0, image
        assert image["w"] > 100 and image["h"] > 50, image
    assert page.errors == []
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests
    assert shot.stat().st_size > 50_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("POWERTRAIN_SCREENSHOT_DIR"):
        (SHOT_DIR / "report-screenshot.png").write_bytes(shot.read_bytes())
