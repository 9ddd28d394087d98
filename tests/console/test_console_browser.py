"""The operator console in a real browser: Debian's chromium, headless, driven by Playwright.

`make test-console` runs these (they need /usr/bin/chromium and the playwright package); any
JavaScript error the page throws fails the test that saw it. Screenshots go to .artifacts/.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from tests.support import create_key, run_verify

pytestmark = pytest.mark.console

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
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "console"
LIVE_SECONDS = 2.0
STRINGS = {"Wallet-Amount-Format": "string"}


def grouped(amount: str, currency: str) -> str:
    """The console's way to show an amount, written independently of its JavaScript."""
    return f"{Decimal(amount):,} {currency}"


@pytest.fixture(scope="module")
def console_key(secured_database_url: str) -> str:
    """What an operator gets: read the wallets and follow the events, nothing else."""
    return asyncio.run(create_key(secured_database_url, "wallets:read", "events:read"))


@pytest.fixture(scope="module")
def admin_key(secured_database_url: str) -> str:
    return asyncio.run(create_key(secured_database_url, "admin"))


@pytest.fixture(scope="module")
def browser(
    console_key: str,
    full_key: str,
    admin_key: str,
    service_url: str,
    secured_service: tuple[str, Path],
) -> Iterator[BrowserContext]:
    """One headless chromium, on a fresh profile, for the module: starting it is the slow part.
    Playwright's sync API runs an event loop of its own: the fixtures that call asyncio.run
    (the keys, the databases) are made before it starts."""
    with (
        sync_playwright() as playwright,
        tempfile.TemporaryDirectory(prefix="console-profile-") as profile,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab (so a new sessionStorage) that fails its test on any JavaScript error."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    tab.close()
    assert errors == [], f"the console threw: {errors}"


@pytest.fixture
def api(secured_service: tuple[str, Path], full_key: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {full_key}", **STRINGS}
    with httpx.Client(base_url=secured_service[0], headers=headers, timeout=30) as http:
        yield http


def deposit(
    api: httpx.Client, wallet_id: uuid.UUID, amount: str, reference: str | None = None
) -> dict[str, str]:
    response = api.post(
        f"/api/v1/wallets/{wallet_id}/operation",
        json={"operation_type": "DEPOSIT", "amount": amount, "reference": reference},
    )
    assert response.status_code == 200, response.text
    return response.json()


def transfer(
    api: httpx.Client,
    source: uuid.UUID,
    target: uuid.UUID,
    amount: str,
    reference: str | None = None,
) -> dict[str, str]:
    moved = api.post(
        "/api/v1/transfers",
        json={
            "from_wallet_id": str(source),
            "to_wallet_id": str(target),
            "amount": amount,
            "reference": reference,
        },
    )
    assert moved.status_code == 201, moved.text
    return moved.json()


def history_overflow(page: Page) -> int:
    """How far the history table sticks out of its box sideways, in pixels."""
    return int(
        page.evaluate(
            """(() => { const box = document.querySelector("#history").parentElement;
                        return box.scrollWidth - box.clientWidth; })()"""
        )
    )


def use_key(page: Page, key: str) -> None:
    page.fill("#key-input", key)
    page.click("#key-save")
    expect(page.locator("#key-state")).to_have_text("Key set for this tab.")


def look_up(page: Page, wallet_id: uuid.UUID) -> None:
    page.fill("#wallet-id", str(wallet_id))
    page.click("#lookup")


def test_console_shows_a_wallet_and_a_new_deposit_within_two_seconds(
    page: Page, api: httpx.Client, secured_service: tuple[str, Path], console_key: str
) -> None:
    wallet_id = uuid.uuid4()
    deposit(api, wallet_id, "1234567.89")
    deposit(api, wallet_id, "10.05")
    page.goto(f"{secured_service[0]}/console")
    use_key(page, console_key)
    look_up(page, wallet_id)

    wallet = api.get(f"/api/v1/wallets/{wallet_id}").json()
    assert wallet["balance"] == "1234577.94"
    currency = wallet["currency"]
    expect(page.locator("#balance")).to_have_text(grouped(wallet["balance"], currency))
    expect(page.locator("#available")).to_have_text(grouped(wallet["available_balance"], currency))
    last_point = page.locator("#chart circle.last")
    expect(last_point).to_have_attribute("data-amount", wallet["balance"])
    expect(page.locator("#history tbody tr")).to_have_count(2)
    expect(page.locator("#live-state")).to_have_text("Connected.")

    assert history_overflow(page) <= 0, "the history fits at 1280 px without scrolling"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / "console-1280.png", full_page=True)

    started = time.monotonic()
    landed = deposit(api, wallet_id, "1000.01")
    new_balance = landed["balance_after"]
    assert new_balance == "1235577.95"
    feed_item = page.locator(
        "#live-feed li", has_text=f"DEPOSIT 1,000.01 → balance {grouped(new_balance, '').strip()}"
    )
    expect(feed_item).to_be_visible(timeout=LIVE_SECONDS * 1000)
    expect(page.locator("#balance")).to_have_text(
        grouped(new_balance, currency), timeout=LIVE_SECONDS * 1000
    )
    assert time.monotonic() - started < LIVE_SECONDS
    expect(last_point).to_have_attribute("data-amount", new_balance)
    expect(page.locator("#history tbody tr")).to_have_count(3)

    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=ARTIFACTS / "console-390.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "no sideways scrolling of the page at 390 px"


def test_console_says_clearly_that_a_key_is_wrong_and_hides_what_it_showed(
    page: Page, api: httpx.Client, secured_service: tuple[str, Path], console_key: str
) -> None:
    wallet_id = uuid.uuid4()
    deposit(api, wallet_id, "5.00")
    page.goto(f"{secured_service[0]}/console")
    use_key(page, console_key)
    look_up(page, wallet_id)
    expect(page.locator("#balance")).to_have_text("5.00 USD")
    use_key(page, "wk_not-a-real-key")
    message = page.locator("#message")
    expect(message).to_be_visible()
    expect(message).to_contain_text("Wrong API key")
    expect(page.locator("#wallet-view")).to_be_hidden()
    stored = page.evaluate("Object.values(sessionStorage)")
    assert stored == ["wk_not-a-real-key"], "the key lives in this tab's sessionStorage only"
    assert page.evaluate("Object.keys(localStorage).length") == 0


def test_live_feed_pauses_and_filters_by_type(
    page: Page, api: httpx.Client, secured_service: tuple[str, Path], console_key: str
) -> None:
    wallet_id = uuid.uuid4()
    page.goto(f"{secured_service[0]}/console")
    use_key(page, console_key)
    expect(page.locator("#live-state")).to_have_text("Connected.")
    page.fill("#live-wallet", str(wallet_id))
    feed = page.locator("#live-feed li")
    deposit(api, wallet_id, "1.00")
    expect(feed).to_have_count(2)  # wallet.created and operation.created

    page.click("#live-pause")
    deposit(api, wallet_id, "2.00")
    expect(page.locator("#live-pause")).to_have_text("Resume (1 new)")
    expect(feed).to_have_count(2)
    page.click("#live-pause")
    expect(feed).to_have_count(3)

    page.select_option("#live-type", "wallet.created")
    expect(feed).to_have_count(1)
    expect(feed.first).to_have_attribute("data-type", "wallet.created")


def test_console_works_without_a_key_on_a_loopback_service_with_auth_off(
    page: Page, service_url: str
) -> None:
    wallet_id, second_id = uuid.uuid4(), uuid.uuid4()
    with httpx.Client(base_url=service_url, headers=STRINGS) as api:
        landed = deposit(api, wallet_id, "42.10")
        deposit(api, second_id, "7000.00")
    page.goto(f"{service_url}/console#wallet={wallet_id}")
    expect(page.locator("#key-state")).to_have_text("No key.")
    expect(page.locator("#balance")).to_contain_text(landed["balance_after"])
    unlabelled = page.evaluate(
        """[...document.querySelectorAll("input, select, button")]
            .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label")
                           && !c.textContent.trim())
            .map((c) => c.id || c.outerHTML)"""
    )
    assert unlabelled == [], "every control has a label"
    page.focus("#wallet-id")
    page.keyboard.press("Control+A")
    page.keyboard.type(str(second_id))
    page.keyboard.press("Enter")
    expect(page.locator("#balance")).to_have_text("7,000.00 USD")
    health = page.locator("#health")
    expect(health).to_contain_text("Requests/s", timeout=15_000)
    # Numbers, not "n/a": the names the page reads are the ones the service exports.
    expect(health).to_contain_text(re.compile(r"DB connections in use\s*\d+ of \d+"))
    expect(health).to_contain_text(re.compile(r"Requests/s\s*\d+\.\d"))


def test_live_feed_opens_on_the_newest_events_not_the_whole_history(
    page: Page, api: httpx.Client, secured_service: tuple[str, Path], console_key: str
) -> None:
    wallet_id = uuid.uuid4()
    for cents in range(1, 26):
        deposit(api, wallet_id, f"0.{cents:02d}")
    page.goto(f"{secured_service[0]}/console")
    use_key(page, console_key)
    expect(page.locator("#live-state")).to_have_text("Connected.")
    feed = page.locator("#live-feed li")
    expect(feed).to_have_count(20)
    expect(feed.first).to_contain_text("DEPOSIT 0.25 → balance 3.25")


def test_reversal_says_what_will_move_and_moves_it_only_once_confirmed(
    page: Page, api: httpx.Client, secured_service: tuple[str, Path], full_key: str
) -> None:
    wallet_id = uuid.uuid4()
    deposit(api, wallet_id, "100.00")
    landed = deposit(api, wallet_id, "10.05")
    page.goto(f"{secured_service[0]}/console")
    use_key(page, full_key)
    look_up(page, wallet_id)
    expect(page.locator("#balance")).to_have_text("110.05 USD")
    reverse = page.get_by_role("button", name=f"Reverse DEPOSIT #{landed['id']}")
    expect(reverse).to_be_hidden()
    page.get_by_label("Allow reversals").check()
    reverse.click()
    expect(page.locator("#reverse-moves")).to_have_text(
        f"Takes 10.05 USD out of wallet {wallet_id}."
    )
    page.click("#reverse-cancel")
    expect(page.locator("#reverse-dialog")).to_be_hidden()
    assert api.get(f"/api/v1/wallets/{wallet_id}").json()["balance"] == "110.05"

    reverse.click()
    page.fill("#reverse-amount", "0.05")
    expect(page.locator("#reverse-moves")).to_have_text(
        f"Takes 0.05 USD out of wallet {wallet_id}."
    )
    page.click("#reverse-confirm")
    expect(page.locator("#reverse-dialog")).to_be_hidden()
    expect(page.locator("#notice")).to_contain_text("Reversed")
    expect(page.locator("#balance")).to_have_text("110.00 USD")
    assert api.get(f"/api/v1/wallets/{wallet_id}").json()["balance"] == "110.00"
    expect(page.locator("#history tbody tr").first).to_contain_text("REVERSAL")


def test_history_pages_filters_by_type_and_links_a_transfer_to_the_other_wallet(
    page: Page, api: httpx.Client, secured_service: tuple[str, Path], console_key: str
) -> None:
    wallet_id, other_id = uuid.uuid4(), uuid.uuid4()
    for _ in range(27):
        deposit(api, wallet_id, "1.00")
    deposit(api, other_id, "1.00")
    transfer(api, wallet_id, other_id, "2.50")
    page.goto(f"{secured_service[0]}/console")
    use_key(page, console_key)
    look_up(page, wallet_id)
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(25)
    expect(rows.first).to_contain_text("TRANSFER_OUT")

    points = page.locator("#chart circle")
    expect(points).to_have_count(28)
    expect(page.locator("#live-state")).to_have_text("Connected.")
    box = page.locator("#chart svg").bounding_box()
    assert box is not None
    middle = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, middle)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.998, middle, steps=4)
    page.mouse.up()
    zoomed = points.count()
    assert 0 < zoomed < 28, "dragging across the right half zooms to the later points"
    expect(page.locator("#chart circle.last")).to_have_attribute("data-amount", "24.50")
    page.get_by_role("button", name="Reset zoom").click()
    expect(points).to_have_count(28)
    page.click("#history-older")
    expect(rows).to_have_count(3)
    expect(page.locator("#history-older")).to_be_disabled()
    page.click("#history-newer")
    expect(rows).to_have_count(25)

    page.select_option("#history-type", "TRANSFER_OUT")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("2.50 USD")
    rows.first.get_by_role("button", name="Open the other wallet", exact=False).click()
    expect(page.locator("#wallet-id")).to_have_value(str(other_id))
    expect(page.locator("#balance")).to_have_text("3.50 USD")
    expect(page.locator("#history-type")).to_have_value("")
    expect(rows).to_have_count(2)


def test_a_reference_lists_what_carries_it_and_opens_its_wallet(
    page: Page, api: httpx.Client, secured_service: tuple[str, Path], console_key: str
) -> None:
    wallet_id, other_id = uuid.uuid4(), uuid.uuid4()
    order = f"order-{uuid.uuid4().hex[:12]}"
    deposit(api, wallet_id, "1234.50", reference=order)
    deposit(api, wallet_id, "0.50")
    page.goto(f"{secured_service[0]}/console")
    use_key(page, console_key)
    page.fill("#wallet-id", order)
    page.click("#lookup")
    results = page.locator("#search-list li")
    expect(results).to_have_count(1)
    expect(results.first).to_contain_text("DEPOSIT")
    expect(results.first).to_contain_text("1,234.50 USD")
    # One operation: its wallet opens without a choice to make.
    expect(page.locator("#wallet-id")).to_have_value(str(wallet_id))
    expect(page.locator("#balance")).to_have_text("1,235.00 USD")

    payout = f"payout-{uuid.uuid4().hex[:12]}"
    deposit(api, other_id, "1.00")
    transfer(api, wallet_id, other_id, "1000.25", reference=payout)
    page.fill("#wallet-id", payout)
    page.keyboard.press("Enter")
    found = page.locator("#search-list li[data-kind=transfer]")
    expect(found).to_have_count(1)
    expect(found).to_contain_text("1,000.25 USD")
    expect(found.get_by_role("link", name=f"Open From wallet {wallet_id}")).to_be_visible()
    found.get_by_role("link", name=f"Open To wallet {other_id}").click()
    expect(page.locator("#wallet-id")).to_have_value(str(other_id))
    expect(page.locator("#balance")).to_have_text("1,001.25 USD")

    page.fill("#wallet-id", "no-such-reference")
    page.click("#lookup")
    expect(page.locator("#search-summary")).to_have_text(
        "No operation, transfer or hold has reference “no-such-reference”."
    )


def verify_counts(database_url: str) -> re.Match[str]:
    """`wallet-api verify` on the database, and the wallets and operations it says it checked."""
    audit = run_verify(database_url)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    counts = re.search(r"(\d+) wallets and (\d+) operations checked", audit.stdout)
    assert counts, audit.stdout
    return counts


def test_health_panel_shows_the_service_summary_and_the_last_verify_to_an_admin(
    page: Page,
    api: httpx.Client,
    secured_service: tuple[str, Path],
    secured_database_url: str,
    admin_key: str,
    console_key: str,
) -> None:
    deposit(api, uuid.uuid4(), "3.00")
    counts = verify_counts(secured_database_url)
    page.goto(f"{secured_service[0]}/console")
    use_key(page, admin_key)
    expect(page.locator("#health-source")).to_contain_text("The service's own summary")
    health = page.locator("#health")
    expect(health).to_contain_text(re.compile(r"Requests/s\s*\d+\.\d"), timeout=15_000)
    expect(health).to_contain_text(re.compile(r"p99\s*(\d+\.\d ms|no requests)"))
    expect(health).to_contain_text(re.compile(r"DB connections in use\s*\d+ of \d+"))
    expect(page.locator("#health svg.spark")).to_have_count(5)
    expect(page.locator("#verify-result")).to_contain_text(
        f"{counts[1]} wallets and {counts[2]} operations checked; the books balance."
    )

    use_key(page, console_key)
    expect(page.locator("#health-source")).to_contain_text("lacks the admin scope (403)")
    expect(page.locator("#verify-result")).to_have_text(
        "The last verify is shown with an admin key."
    )
    expect(health).to_contain_text(re.compile(r"Requests/s\s*\d+\.\d"), timeout=15_000)


def test_keyboard_zooms_and_pans_the_balance_chart_and_resets_it(
    page: Page, api: httpx.Client, secured_service: tuple[str, Path], console_key: str
) -> None:
    wallet_id = uuid.uuid4()
    for units in range(1, 17):
        deposit(api, wallet_id, f"{units}.00")
        time.sleep(0.05)  # points spread evenly enough for a quarter-range pan to reach one
    page.goto(f"{secured_service[0]}/console")
    use_key(page, console_key)
    look_up(page, wallet_id)
    points = page.locator("#chart circle")
    expect(points).to_have_count(16)
    expect(page.locator("#live-state")).to_have_text("Connected.")
    expect(page.locator("#chart-keys")).to_contain_text("to zoom around its centre")

    page.focus("#chart")
    page.keyboard.press("+")
    expect(page.locator("#chart-reset")).to_be_visible()
    zoomed = points.count()
    assert 2 <= zoomed < 16, "+ zooms in around the centre"
    first = page.locator("#chart circle").first.get_attribute("data-at")
    last = page.locator("#chart circle.last").get_attribute("data-amount")
    assert last != "136.00", "the newest point is outside the zoomed range"
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#chart circle").first).not_to_have_attribute("data-at", first or "")
    panned = page.locator("#chart circle").first.get_attribute("data-at")
    assert panned is not None and first is not None and panned < first, "← pans to earlier times"
    expect(page.locator("#chart-shown")).to_contain_text("of 16 points")

    page.keyboard.press("0")
    expect(points).to_have_count(16)
    expect(page.locator("#chart-reset")).to_be_hidden()
    page.keyboard.press("+")
    page.keyboard.press("+")
    expect(points).not_to_have_count(16)
    page.keyboard.press("-")
    page.keyboard.press("-")
    expect(points).to_have_count(16)
    page.keyboard.press("+")
    page.keyboard.press("Escape")
    expect(points).to_have_count(16)
    expect(page.locator("#chart circle.last")).to_have_attribute("data-amount", "136.00")


def test_history_fits_1280_px_with_long_cells_and_scrolls_in_its_box_at_390(
    page: Page, api: httpx.Client, secured_service: tuple[str, Path], admin_key: str
) -> None:
    wallet_id, other_id = uuid.uuid4(), uuid.uuid4()
    deposit(api, wallet_id, "123456789012.34", reference=f"invoice-{uuid.uuid4().hex}-{'x' * 40}")
    deposit(api, other_id, "1.00")
    transfer(api, wallet_id, other_id, "1000000.00", reference=f"payout-{uuid.uuid4()}")
    hold = api.post(f"/api/v1/wallets/{wallet_id}/holds", json={"amount": "250000.00"})
    assert hold.status_code == 201, hold.text
    captured = api.post(f"/api/v1/holds/{hold.json()['id']}/capture", json={})
    assert captured.status_code == 200, captured.text
    landed = deposit(api, wallet_id, "10.00")
    reversed_ = api.post(f"/api/v1/operations/{landed['id']}/reverse", json={})
    assert reversed_.status_code == 201, reversed_.text
    page.goto(f"{secured_service[0]}/console")
    use_key(page, admin_key)
    look_up(page, wallet_id)
    expect(page.locator("#history tbody tr")).to_have_count(5)
    page.get_by_label("Allow reversals").check()
    expect(page.locator("#history th.reversal")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "console-history-1280.png", full_page=True)
    assert history_overflow(page) <= 0, "every column fits at 1280 px"

    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert history_overflow(page) > 0, "at 390 px the table scrolls in its box, cells uncrushed"
    page.screenshot(path=ARTIFACTS / "console-history-390.png", full_page=True)
