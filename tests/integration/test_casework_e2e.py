"""Case work in a real headless Chromium: worker, case-store sink and console processes on real
Kafka, Redis and PostgreSQL.

An officer takes the next case (the SIM-swap hold), adds a note, bulk-dismisses three R6a
warnings from the queue, confirms the fraud, and sees all of it on the case timeline.
Screenshots of the queue, a bulk action and a case timeline are saved in ``artifacts/``; with
``UPDATE_SCREENSHOTS=1`` also under ``docs/``, where the README shows them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from loadtest.stack import stop_process
from tests.integration.case_helpers import case_store_env, daytime_before, start_sink
from tests.integration.conftest import ROOT, Services, Worker, free_port, make_worker, send
from tests.integration.test_console_e2e import CHROMIUM, CHROMIUM_ARGS, ConsoleProcess, sim_swap_drain

pytestmark = pytest.mark.integration
ARTIFACTS, DOCS = ROOT / "artifacts", ROOT / "docs"
OFFICER, PASSWORD = "case-officer", "case-password-" + uuid.uuid4().hex[:8]
NOTE = "Called the customer: she did not make this transfer and her SIM stopped working at 09:10"


@pytest.fixture(scope="module")
def stack(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Worker, ConsoleProcess]]:
    """A worker on topics of its own, its case-store sink and a console, with one officer."""
    tmp = tmp_path_factory.mktemp("casework")
    worker = make_worker(services, tmp)
    worker.start()
    env = {**worker.env, "TXMON_CONSOLE_PORT": str(free_port()), "TXMON_SESSION_TTL_S": "900",
           **case_store_env(services.postgres_url)}  # fmt: skip
    sink: subprocess.Popen[bytes] | None = None
    console = ConsoleProcess(env, int(env["TXMON_CONSOLE_PORT"]), tmp / "console.log")
    try:
        created = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "streams.cli", "create-user", OFFICER, "--role", "officer", "--password-stdin"],
            input=PASSWORD + "\n", env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        sink = start_sink(env, tmp / "cases.log")
        console.start()
        yield worker, console
    finally:
        console.stop()
        stop_process(sink)
        worker.stop()


def foreign_login(account: str, ip: str) -> list[dict[str, Any]]:
    """An onboarded customer logging in from abroad on their verified phone: an R6a warning only."""
    t = daytime_before(datetime.now(tz=UTC) - timedelta(minutes=2))
    steps = [("device_binding", {"device_id": "p1"}), ("biometric_verification", {"device_id": "p1", "result": "matched"}),
             ("login", {"device_id": "p1", "ip": ip, "channel": "mobile"})]  # fmt: skip
    return [{"type": kind, "event_id": f"{account}-{i}", "account_id": account, "ts": (t + timedelta(seconds=10 * i)).isoformat(), **f}
            for i, (kind, f) in enumerate(steps)]  # fmt: skip


async def login(page: Page, url: str) -> None:
    await page.goto(f"{url}/")
    await page.fill("#user", OFFICER)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page).to_have_url(f"{url}/")
    await page.click("#lang-en")


async def test_an_officer_takes_the_next_case_notes_bulk_dismisses_confirms_and_reads_the_timeline(
    stack: tuple[Worker, ConsoleProcess], producer: Any
) -> None:
    worker, console = stack
    fraud = "9704" + uuid.uuid4().hex[:10]
    warned = ["9705" + uuid.uuid4().hex[:10] for _ in range(3)]
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900}, locale="vi-VN")
            await login(page, console.url)
            send(producer, worker.topics["input"], [*sim_swap_drain(fraud)])
            for account, ip in zip(warned, ("8.8.8.8", "1.1.1.1", "9.9.9.9"), strict=True):
                send(producer, worker.topics["input"], [*foreign_login(account, ip)])
            for account in [fraud, *warned]:  # they arrive without a reload
                await expect(page.locator(f'tr[data-account="{account}"]')).to_be_visible(timeout=60_000)
            await expect(page.locator("#queue-count")).to_contain_text("1–4 of 4 matching · 4 open cases")
            await page.screenshot(path=str(ARTIFACTS / "cases-queue.png"), full_page=True)

            await page.click("#next-case")  # the most severe: the SIM-swap hold
            await expect(page).to_have_url(re.compile(r"/case/H-"))
            await expect(page.locator("#workflow")).to_contain_text("Investigating")
            await expect(page.locator("#claim")).to_contain_text(OFFICER)
            hold_id = page.url.rsplit("/", 1)[1]
            assert hold_id.startswith("H-")
            await page.fill("#note-text", NOTE)
            await page.click("#add-note")
            await expect(page.locator("#timeline-list")).to_contain_text(NOTE)

            await page.goto(f"{console.url}/?rule=R6a")
            await expect(page.locator("#queue-table tbody tr")).to_have_count(3)
            await page.check("#pick-page")
            await page.select_option("#bulk-action", "dismiss")
            await page.select_option("#bulk-reason-code", "bulk_triage")
            await page.fill("#bulk-reason", "foreign logins of customers travelling, verified devices")
            await page.click("#bulk-apply")
            await expect(page.locator("#bulk-result")).to_contain_text("3 done, 0 not possible")
            await expect(page.locator("#queue")).to_contain_text("No case matches")
            await page.screenshot(path=str(ARTIFACTS / "cases-bulk.png"), full_page=True)

            await page.goto(f"{console.url}/case/{hold_id}")
            await page.select_option("#resolution", "fraud")
            await page.select_option("#resolve-reason-code", "customer_confirmed")
            await page.fill("#work-reason", "customer denies the transfer")
            await page.click("#resolve")
            await expect(page.locator("#workflow")).to_contain_text("Resolved · Fraud", timeout=20_000)
            await expect(page.locator("#case-status")).to_contain_text("Confirmed fraud")
            timeline = page.locator("#timeline-list")
            for text in ("Customer event", "Alert", "Hold placed", "Claimed", NOTE, "Fraud confirmed, account frozen",
                         "Report on the police channel", "Resolved", "customer_confirmed: customer denies the transfer"):  # fmt: skip
                await expect(timeline).to_contain_text(text)
            kinds = await timeline.locator("li").evaluate_all("els => els.map(e => e.dataset.kind)")
            assert kinds.index("case_claim") < kinds.index("case_note") < kinds.index("case_resolve")
            await page.screenshot(path=str(ARTIFACTS / "cases-timeline.png"), full_page=True)

            dismissed = await page.evaluate("fetch('/api/case-queue?status=dismissed').then(r => r.json())")
            assert sorted(c["account_id"] for c in dismissed["cases"]) == sorted(warned)
        finally:
            await browser.close()
    for name in ("cases-queue.png", "cases-bulk.png", "cases-timeline.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            shutil.copyfile(ARTIFACTS / name, DOCS / name)
