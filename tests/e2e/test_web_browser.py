"""The pages in a real Chromium (Debian's, driven by Playwright through ``executable_path``)
against the daemon as a subprocess: log in, create a job from the form, fix a bad field, watch it
run and turn green without reloading, edit, run now, disable, a failing job turning red, the
calendar's geometry, a viewer without edit controls, CSRF. Any console error or failed request
fails the test; axe-core checks every page; a screenshot of every page lands in
``build/screenshots`` (or $DIRECTORD_SCREENSHOTS)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from directord.web import auth
from tests.helpers import Daemon, free_port, healthy, http, wait_for, write_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(
    os.environ.get("DIRECTORD_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots")
)
OPERATOR_PW = "op-password-1"
VIEWER_PW = "viewer-password-1"
# Playwright's own browser download cannot work here: Debian's chromium, flags that keep it
# off the (closed) network.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"chromium not found at {CHROMIUM}")
        pytest.skip("chromium is not installed")
    return sync_playwright


@pytest.fixture
def site(tmp_path: Path, daemon_factory: Callable[..., Daemon]) -> str:
    port = free_port()
    (tmp_path / "token").write_text("browser-test-token\n")
    config = write_config(
        tmp_path,
        {
            "http": {"listen": f"127.0.0.1:{port}", "token_file": "token"},
            "web": {
                "users": [
                    {
                        "name": "olga",
                        "role": "operator",
                        "password_hash": auth.hash_password(OPERATOR_PW),
                    },
                    {
                        "name": "vic",
                        "role": "viewer",
                        "password_hash": auth.hash_password(VIEWER_PW),
                    },
                ]
            },
            "timeperiods": {
                "mondays": {"timezone": "Europe/Berlin", "ranges": {"monday": "09:00-17:00"}}
            },
            "jobs": [
                {
                    "name": "from-file",
                    "kind": "command",
                    "interval": "1h",
                    "settings": {"command": ["true"]},
                }
            ],
        },
    )
    daemon_factory(config)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: healthy(base), 30, "the daemon's /health")
    return base


class Browser:
    """One page with its problems recorded: console errors, failed requests, axe violations."""

    def __init__(self, page: Any, axe: Any, base: str) -> None:
        self.page = page
        self.axe = axe
        self.base = base
        self.problems: list[str] = []
        page.on(
            "console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}")
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))

        def failed(request: Any) -> None:
            # A poll the page had in flight when the test navigated away is cancelled by the
            # browser (ERR_ABORTED): that is leaving, not a failure of the page.
            if request.failure == "net::ERR_ABORTED" and request.resource_type == "fetch":
                return
            self.problems.append(f"request failed: {request.url} {request.failure}")

        page.on("requestfailed", failed)

        def bad_status(response: Any) -> None:
            # 4xx answers the test provokes on purpose are checked where they happen.
            if response.status >= 500:
                self.problems.append(f"{response.status} from {response.url}")

        page.on("response", bad_status)

    def visit(self, path: str, shot: str) -> None:
        self.page.goto(self.base + path)
        self.check(shot)

    def check(self, shot: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
        results = self.axe.run(self.page)
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']}"
            for v in results.response["violations"]
            if v.get("impact") in ("serious", "critical")
        ]
        assert serious == [], f"axe on {shot}: {serious}"


def login(b: Browser, name: str, password: str) -> None:
    b.page.goto(b.base + "/login")
    b.check("login")
    b.page.fill("#name", name)
    b.page.fill("#password", password)
    b.page.click("button[type=submit]")
    b.page.wait_for_url(re.compile(r".*/jobs$"))


def test_operator_and_viewer_in_a_real_browser(site: str) -> None:
    sync_playwright = _playwright()
    from axe_playwright_python.sync_playwright import Axe  # noqa: PLC0415

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            b = Browser(browser.new_page(), Axe(), site)
            login(b, "olga", OPERATOR_PW)
            b.check("jobs")

            # The form: a bad interval shows its error beside the field and keeps the rest.
            b.visit("/jobs/new?kind=command", "job-new")
            b.page.fill("[name=name]", "made-in-browser")
            b.page.fill("[name=interval]", "5 parsecs")
            b.page.fill("[name='settings.command']", "true")
            b.page.click("form.job-form button[type=submit]")
            error = b.page.locator("#e-interval")
            assert error.is_visible()
            assert "5 parsecs" in b.page.input_value("[name=interval]") or error.inner_text()
            assert b.page.input_value("[name=name]") == "made-in-browser"
            assert b.page.input_value("[name='settings.command']") == "true"
            b.check("job-new-error")
            b.page.fill("[name=interval]", "1h")
            b.page.click("form.job-form button[type=submit]")
            b.page.wait_for_url(re.compile(r".*/jobs/made-in-browser$"))

            # It runs at once and turns green without a reload (the page polls the API).
            b.page.goto(site + "/jobs")
            b.page.wait_for_selector("tr[data-job='made-in-browser'].state-ok", timeout=30_000)
            b.check("jobs-green")

            # Edit it.
            b.visit("/jobs/made-in-browser/edit", "job-edit")
            b.page.fill("[name=interval]", "2h")
            b.page.click("form.job-form button[type=submit]")
            b.page.wait_for_url(re.compile(r".*/jobs/made-in-browser$"))
            assert "every 2h" in b.page.inner_text("dl.definition")
            b.check("job")

            # Run it now, from the jobs page and from its own: a run appears after each.
            def runs_at_least(count: int) -> Callable[[], bool]:
                return lambda: (
                    (b.page.reload() or True)
                    and b.page.locator("table.runs tbody tr").count() >= count
                )

            b.page.goto(site + "/jobs")
            b.page.click("tr[data-job='made-in-browser'] button:has-text('Run now')")
            b.page.wait_for_url(re.compile(r".*/jobs/made-in-browser$"))
            wait_for(runs_at_least(2), 30, "a second run after run now on the jobs page")
            # The form posts and is redirected back to this page: wait for that navigation, or
            # the first reload below aborts it (ERR_ABORTED on the document, seen in CI).
            with b.page.expect_navigation():
                b.page.click("text=Run now")
            wait_for(runs_at_least(3), 30, "a third run after run now on the job's page")

            # Disable it.
            with b.page.expect_navigation():
                b.page.click("button:has-text('Disable')")
            b.page.wait_for_selector(".badge.state-disabled")

            # A failing job turns red and its error shows on its page.
            b.visit("/jobs/new?kind=command", "job-new-2")
            b.page.fill("[name=name]", "always-fails")
            b.page.fill("[name=interval]", "1h")
            b.page.fill("[name='settings.command']", "false")
            b.page.click("form.job-form button[type=submit]")
            b.page.wait_for_url(re.compile(r".*/jobs/always-fails$"))
            b.page.wait_for_selector(".badge.state-failing", timeout=30_000)
            b.page.reload()
            assert "exit code 1" in b.page.inner_text("table.runs")
            b.page.click("table.runs tbody tr >> nth=0 >> a")
            assert "failed" in b.page.inner_text("dl.definition")
            b.check("run")

            # The calendar of monday 09:00-17:00 draws exactly the Monday block.
            b.visit("/timeperiods/mondays", "timeperiod")
            rects = b.page.locator("#week svg rect.active")
            assert rects.count() == 1
            box = {
                k: float(rects.first.get_attribute(k) or "nan")
                for k in ("x", "y", "width", "height")
            }
            assert box == {"x": 40.0, "y": 24.0 + 9 * 20.0, "width": 100.0, "height": 8 * 20.0}
            b.visit("/timeperiods", "timeperiods")
            b.visit("/timeperiods/preview", "timeperiod-preview")
            b.page.fill("#p-ranges", "mondayy = 09:00-17:00")
            b.page.wait_for_function(
                "document.getElementById('p-error').textContent.includes('at 0')"
            )
            b.visit("/deployments", "deployments")

            # A session without the CSRF token is refused.
            refused = b.page.request.post(site + "/api/jobs/from-file/run")
            assert refused.status == 403
            assert b.problems == []

            # A viewer sees no edit controls and gets 403 from a direct POST.
            viewer = Browser(browser.new_context().new_page(), Axe(), site)
            login(viewer, "vic", VIEWER_PW)
            assert viewer.page.locator("text=Run now").count() == 0
            assert viewer.page.locator("a[href='/jobs/new']").count() == 0
            viewer.visit("/jobs/made-in-browser", "job-viewer")
            assert viewer.page.locator("button:has-text('Enable')").count() == 0
            csrf = viewer.page.get_attribute("meta[name=csrf-token]", "content")
            denied = viewer.page.request.post(
                site + "/jobs/from-file/run", form={"csrf_token": csrf or ""}
            )
            assert denied.status == 403
            api_denied = viewer.page.request.post(
                site + "/api/jobs/from-file/run", headers={auth.CSRF_HEADER: csrf or ""}
            )
            assert api_denied.status == 403
            assert viewer.problems == []
        finally:
            browser.close()


def test_without_users_the_pages_say_how_to_turn_them_on(
    tmp_path: Path, daemon_factory: Callable[..., Daemon]
) -> None:
    port = free_port()
    config = write_config(tmp_path, {"http": {"listen": f"127.0.0.1:{port}"}})
    daemon_factory(config)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: healthy(base), 30, "the daemon's /health")
    status, body = http(base + "/")
    assert status == 200
    assert b"directord user hash" in body
    assert http(base + "/jobs")[0] == 404
    assert http(base + "/timeperiods")[0] == 404
