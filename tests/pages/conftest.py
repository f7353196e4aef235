"""Fixtures for the page tests: Debian's chromium driven by Playwright, zbar, screenshots.

Each skips with the install command when its program is missing; ``.ci/run``
installs them all so CI runs every test.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.service import Instance
from tests.zbar import Decode, zbar_decoder

try:
    from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
except ImportError:  # the HTTP-only page tests still run
    async_playwright = None

#: the system chromium; Playwright never downloads a browser of its own here
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: headless, and quiet: no update checks, sync or other background traffic
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: longest any single page action or expectation may take
ACTION_TIMEOUT_MS = 20_000
#: where screenshots of each state go (gitignored)
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "pages"
#: a phone's screen, for the phone page
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
#: records Content-Security-Policy violations where the test can read them (init scripts are not subject to CSP)
CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if async_playwright is None:
        pytest.skip("playwright not installed: pip install -r requirements-dev.txt")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("chromium not installed: apt-get install chromium")
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


NewPage = Callable[..., Awaitable["Page"]]


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[NewPage]:
    """Opens a page in a context of its own (its own cookies and storage), recording CSP violations."""
    contexts: list[BrowserContext] = []

    async def open_page(**context_options: Any) -> Page:
        context = await browser.new_context(**context_options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        await context.add_init_script(CSP_RECORDER)
        contexts.append(context)
        return await context.new_page()

    yield open_page
    for context in contexts:
        await context.close()


async def csp_violations(page: Page) -> list[str]:
    violations: list[str] = await page.evaluate("window.__cspViolations")
    return violations


async def open_login(new_page: NewPage, service: Instance, **context: Any) -> tuple[Page, dict[str, Any]]:
    """The PC's login page once it shows a QR, and the session its /uuid answer created."""
    pc = await new_page(**context)
    async with pc.expect_response("**/uuid") as created:
        await pc.goto(service.base_url + "/")
    session: dict[str, Any] = await (await created.value).json()
    await expect(pc.locator("#login")).to_have_attribute("data-state", "waiting")
    await qr_loaded(pc)
    return pc, session


async def qr_loaded(pc: Page) -> None:
    await pc.wait_for_function(
        "() => { const qr = document.getElementById('qr'); return qr.complete && qr.naturalWidth; }"
    )


Snap = Callable[["Page", str], Awaitable[None]]


@pytest.fixture
def snap(request: pytest.FixtureRequest) -> Snap:
    """Saves a screenshot of a page as ``artifacts/pages/<test>-<state>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"\W+", "_", request.node.name)

    async def save(page: Page, state: str) -> None:
        await page.screenshot(path=str(ARTIFACTS / f"{test}-{state}.png"), full_page=True)

    return save


@pytest.fixture
def decode_qr() -> Decode:
    """zbar: the texts of every QR code in a PNG or other raster image."""
    return zbar_decoder()
