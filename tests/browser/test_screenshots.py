"""Screenshots of the booking page for a person to look at: desktop and phone, German and English.

Written to test-artifacts/screenshots/ at the repository root (gitignored);
the test prints the folder. Each screenshot is also checked for what a
person would notice first: nothing sticks out sideways, the button is on it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from caller import LABELS, open_booking_page
from served import Served

pytestmark = pytest.mark.browser

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 900}},
    "phone": {
        "viewport": {"width": 375, "height": 667},
        "is_mobile": True,
        "has_touch": True,
    },
}


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("device", sorted(VIEWPORTS))
def test_booking_page_screenshot(
    site: Served, device: str, new_context, screenshot_dir: Path
) -> None:
    options = VIEWPORTS[device]
    page = new_context(site, **options).new_page()
    open_booking_page(page, site)
    page.get_by_role("button", name=LABELS[site.language]["submit"]).scroll_into_view_if_needed()
    page.evaluate("() => window.scrollTo(0, 0)")

    path = screenshot_dir / f"booking-{site.language}-{device}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"\nscreenshot: {path}")

    width, height = png_size(path)
    assert width == options["viewport"]["width"], "the page is wider than the window"
    assert height >= options["viewport"]["height"]
