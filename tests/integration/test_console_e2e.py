"""The officers' console in a real headless Chromium, on real Kafka, Redis, worker and console processes.

An officer logs in, a fresh SIM-swap drain is produced to the worker's input
topic, its hold appears in the queue without a reload, the officer opens it
and confirms fraud with a reason; the hold transition, the audit record and
the police report are then read back from their topics. Screenshots of the
queue and the case page are saved in ``artifacts/``.

Chromium is Debian's (``deploy/browser.sh``); Playwright only drives it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect

from loadtest.stack import start_healthy, stop_process
from tests.integration.case_helpers import case_store_env, daytime_before, start_sink
from tests.integration.conftest import ROOT, TopicReader, Worker, free_port, send

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
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
ARTIFACTS = ROOT / "artifacts"
OFFICER, PASSWORD = "e2e-officer", "e2e-password-" + uuid.uuid4().hex[:8]
REASON = "Customer confirmed by phone that the SIM was swapped; the transfer is fraud"


@dataclass
class ConsoleProcess:
    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        url = f"{self.url}/ready"
        self.proc = start_healthy(["-m", "streams.cli", "console"], self.env, self.log_path, url, timeout)

    def stop(self) -> None:
        stop_process(self.proc, timeout=20)

    def log_tail(self, n: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-n:] if self.log_path.exists() else ""


@pytest.fixture(scope="module")
def console(worker: Worker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProcess]:
    """A `txmon console` on the worker's topics and Redis prefix, with one officer created by the CLI,
    and a `txmon cases` sink filling the console's own case store."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash deploy/browser.sh` (Debian's chromium; nothing is downloaded)")
    ns = worker.topics["input"].split(".")[0]
    env = {
        **worker.env,
        "TXMON_AUDIT_TOPIC": worker.topics.get("audit", f"{ns}.audit"),
        "TXMON_SUSPICIOUS_TOPIC": worker.topics.get("suspicious", f"{ns}.suspicious"),
        "TXMON_CONSOLE_PORT": str(free_port()),
        "TXMON_SESSION_TTL_S": "600",
        **case_store_env(worker.services.postgres_url),
    }
    created = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "streams.cli", "create-user", OFFICER, "--role", "officer", "--password-stdin"],
        input=PASSWORD + "\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    logs = tmp_path_factory.mktemp("console")
    proc = ConsoleProcess(env, int(env["TXMON_CONSOLE_PORT"]), logs / "console.log")
    sink = start_sink(env, logs / "cases.log")
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()
        stop_process(sink)


def sim_swap_drain(account: str) -> list[dict[str, Any]]:
    """Onboarded customer, then an OTP-phone change and a 45M VND transfer 40 s later (R2 and R12 hold)."""
    t = daytime_before(datetime.now(tz=UTC) - timedelta(minutes=3))
    events: list[dict[str, Any]] = []

    def ev(kind: str, after_s: float, **fields: Any) -> None:
        nonlocal t
        t += timedelta(seconds=after_s)
        events.append(
            {"type": kind, "event_id": f"{account}-{len(events)}", "account_id": account, "ts": t.isoformat(), **fields}
        )

    pay = {"dest_account": "0011223344", "dest_bank": "VCB", "channel": "mobile", "ip": "14.160.10.20"}
    ev("device_binding", 0, device_id="phone-1")
    ev("biometric_verification", 10, device_id="phone-1", result="matched")
    ev("login", 10, device_id="phone-1", ip="14.160.10.20")
    ev("transfer", 10, device_id="phone-1", amount=200_000, **pay)
    ev("otp_phone_change", 30, new_phone="09xxxx1234", device_id="phone-1")
    ev("transfer", 40, device_id="phone-1", amount=45_000_000, **pay)
    return events


def records_of(reader: TopicReader, account: str, timeout: float = 30.0, **match: Any) -> list[dict[str, Any]]:
    def found(rs: list[Any]) -> list[dict[str, Any]]:
        values = [r.json() for r in rs]
        return [v for v in values if account in (v.get("account_id"), v.get("subject")) and _has(v, match)]

    reader.wait_for(lambda rs: bool(found(rs)), timeout)
    return found(reader.records)


def _has(value: dict[str, Any], match: dict[str, Any]) -> bool:
    return all(value.get(k) == v for k, v in match.items())


async def login(page: Page, url: str) -> None:
    await page.goto(f"{url}/")
    await expect(page).to_have_url(f"{url}/login?next=/")
    await page.fill("#user", OFFICER)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page).to_have_url(f"{url}/")
    await expect(page.locator("#who")).to_contain_text(OFFICER)


async def test_officer_sees_a_fresh_alert_arrive_and_confirms_fraud_in_the_browser(
    console: ConsoleProcess, worker: Worker, producer: Any
) -> None:
    bootstrap = worker.services.bootstrap
    holds = TopicReader(bootstrap, worker.topics["holds"])
    police = TopicReader(bootstrap, worker.topics["police"])
    audit = TopicReader(bootstrap, console.env["TXMON_AUDIT_TOPIC"])
    account = "9704" + uuid.uuid4().hex[:10]
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = await browser.new_page(viewport={"width": 1440, "height": 900}, locale="vi-VN")
                await login(page, console.url)
                await expect(page.locator("h1")).to_have_text("Hàng đợi cảnh báo và lệnh tạm dừng")
                await page.click("#lang-en")
                await expect(page.locator("h1")).to_have_text("Alerts and holds to decide")
                await page.evaluate("window.__sameDocument = true")

                send(producer, worker.topics["input"], [*sim_swap_drain(account)])
                row = page.locator(f'tr[data-account="{account}"]')
                await expect(row).to_be_visible(timeout=60_000)
                assert await page.evaluate("window.__sameDocument === true")  # it arrived without a reload
                await expect(row).to_have_class(re.compile(r"\bnew\b"))  # marked as just arrived
                await expect(row).to_contain_text("R12")
                await expect(row).to_contain_text("45.000.000 VND")
                await page.screenshot(path=str(ARTIFACTS / "console-queue.png"), full_page=True)

                hold_id = await row.get_attribute("data-case")
                assert hold_id is not None and hold_id.startswith("H-")
                await row.click()
                await expect(page).to_have_url(f"{console.url}/case/{hold_id}")
                await expect(page.locator("#case-status")).to_contain_text("Active hold")
                await expect(page.locator("#reasons")).to_contain_text("OTP")
                await expect(page.locator("#reasons .muted").first).to_contain_text("OTP")  # the Vietnamese reason
                await expect(page.locator("#facts")).to_contain_text("phone-1")
                await expect(page.locator("#evidence")).to_contain_text("45.000.000 VND")
                await page.screenshot(path=str(ARTIFACTS / "console-detail.png"), full_page=True)

                await page.click("#act-confirm")
                await page.click("#submit-action")  # no reason yet: refused in the page
                await expect(page.locator("#form-error")).to_contain_text("A reason is required")
                await page.fill("#reason", REASON)
                await page.click("#submit-action")
                await expect(page.locator("#case-status")).to_contain_text("Confirmed fraud", timeout=20_000)
                await expect(page.locator("#action-result")).to_contain_text("Done: Confirm fraud")
                await page.screenshot(path=str(ARTIFACTS / "console-confirmed.png"), full_page=True)
            finally:
                await browser.close()

        confirmed = records_of(holds, account, status="confirmed")
        assert [h["hold_id"] for h in confirmed] == [hold_id] and confirmed[0]["updated_by"] == OFFICER
        assert [h["status"] for h in records_of(holds, account)] == ["active", "confirmed"]
        (record,) = records_of(audit, account, action="confirm")
        assert record["who"] == OFFICER and record["role"] == "officer" and record["reason"] == REASON
        assert record["subject"] == hold_id and record["command_id"]
        assert record["before"]["status"] == "active" and record["after"]["status"] == "confirmed"
        (report,) = records_of(police, account, kind="confirmed_fraud")
        assert report["idempotency_key"] == f"TESTBANK:{hold_id}:confirmed_fraud"
        assert report["amount_vnd"] == 45_000_000 and report["counterparty_bank"] == "VCB"
        assert "new_phone" not in report and REASON not in str(report)
        assert (ARTIFACTS / "console-queue.png").stat().st_size > 10_000
        assert (ARTIFACTS / "console-detail.png").stat().st_size > 10_000
    finally:
        for reader in (holds, police, audit):
            reader.close()
        if os.environ.get("TXMON_E2E_SHOW_LOG"):
            print(console.log_tail())


OFF_SITE_NEXT = [
    "/%09/evil.example/",
    "/%0a/evil.example/",
    "//evil.example/",
    "/%5Cevil.example/",
    "javascript:alert(1)",
]


async def test_a_crafted_next_never_takes_the_browser_off_the_site(console: ConsoleProcess) -> None:
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for target in OFF_SITE_NEXT:
                context = await browser.new_context()
                page = await context.new_page()
                await page.goto(f"{console.url}/login?next={target}")
                await page.fill("#user", OFFICER)
                await page.fill("#password", PASSWORD)
                await page.click("#login-submit")
                await expect(page).to_have_url(f"{console.url}/")  # the queue, on this site
                await context.close()
        finally:
            await browser.close()
