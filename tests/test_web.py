"""The H5 chat page (web/) in a real browser: Debian's Chromium driven by Playwright, against a real uvicorn.

Covers the answer layout (the lead as the reply bubble, collapsible cards 原文 / 责任单位 / 就近办理 / 来源,
each fact shown once, 12333 as a tel: link), a follow-up in the same session, the city picker, feedback
stored in SQLite, HTML injection rendered as text, the refusal, the measures page, the error states (429 and
503 with Retry-After, network failure, 503 while starting, too long, stream fallbacks), where the page
scrolls after an answer (and that it leaves a reader who scrolled up alone), the page's own SSE parser on a
recorded stream, and the layout at 320 and 375 px with screenshots in test-artifacts/. No request may leave
loopback. The tests compare the page with what the server sent, so they hold with and without ``lead``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from bot.config import Settings

from .server import Server, uvicorn_server

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (/usr/bin/chromium)", allow_module_level=True)

from playwright.sync_api import Browser, Locator, Page, Playwright, Route, expect, sync_playwright  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
ARTIFACTS = REPO / "test-artifacts"
STREAM_FIXTURE = WEB / "miniprogram" / "tests" / "fixtures" / "stream.txt"
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
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DOC = "jiangsu-hrss-digital-economy-measures-2022"
Q_PLACEMENT = "我们厂搞智能化改造，多出来的工人怎么安置？"
SUZHOU_BUREAU = "苏州市人力资源和社会保障局"
PLACEMENT_UNITS = ["就业处", "就管中心", "职介中心", "各设区市人力资源社会保障局"]  # measure (七), as printed


# --- fixtures ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def web_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web")


@pytest.fixture(scope="module")
def db_path(web_tmp: Path) -> Path:
    return web_tmp / "db.sqlite3"


@pytest.fixture(scope="module")
def server(full_settings: Settings, full_index, web_tmp: Path, db_path: Path) -> Iterator[Server]:  # type: ignore[no-untyped-def]
    env = {
        "POLICYBOT_INDEX_DIR": str(full_settings.index_dir),
        "POLICYBOT_DB_PATH": str(db_path),
        "POLICYBOT_WEB_DIR": str(WEB),
    }
    with uvicorn_server(env, web_tmp / "server.log") as s:
        yield s


def query(db_path: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield b
    b.close()


@dataclass
class Watch:
    """What a page did: every request, and anything that must not happen."""

    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def asks(self, path: str) -> list[Any]:
        return [body for method, url, body in self.requests if method == "POST" and urlparse(url).path == path]


@pytest.fixture
def watch() -> Watch:
    return Watch()


def _open(browser: Browser, watch: Watch, width: int, height: int) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()

    def on_request(request: Any) -> None:
        url = request.url
        parsed = urlparse(url)
        if parsed.scheme in ("data", "blob", "about"):
            return
        if parsed.hostname not in LOOPBACK:
            watch.outside.append(url)
        body = None
        if request.method == "POST":
            try:
                body = request.post_data_json
            except Exception:
                body = request.post_data
        watch.requests.append((request.method, url, body))

    def on_console(msg: Any) -> None:
        # a CSP violation (inline script/style, outside source) is reported as a console error
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            watch.errors.append(f"console: {msg.text}")

    def on_dialog(dialog: Any) -> None:
        watch.dialogs.append(dialog.message)
        dialog.dismiss()

    context.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: watch.errors.append(f"pageerror: {exc}"))
    page.on("dialog", on_dialog)
    try:
        yield page
    finally:
        context.close()
    assert watch.outside == [], f"requests left loopback: {watch.outside}"
    assert watch.dialogs == [], f"dialogs opened: {watch.dialogs}"
    assert watch.errors == [], f"page errors: {watch.errors}"


open_page = contextmanager(_open)


@pytest.fixture
def page(browser: Browser, server: Server, watch: Watch) -> Iterator[Page]:
    yield from _open(browser, watch, 390, 844)


# --- helpers -------------------------------------------------------------------------------------------
def open_chat(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    expect(page.locator("#welcome-scope")).to_contain_text("江苏省人力资源和社会保障厅")
    expect(page.get_by_label("所在城市").locator("option")).to_have_count(14)


def ask(page: Page, question: str) -> Locator:
    """Type the question, press Enter, wait until its answer (or error) is complete; return that <li>."""
    before = page.locator("#log > li.msg-bot").count()
    box = page.get_by_label("您的问题")
    box.fill(question)
    box.press("Enter")
    answer = page.locator("#log > li.msg-bot").nth(before)
    expect(answer.locator(".feedback, .error-card")).to_have_count(1)
    return answer


def streamed_answer(body: bytes) -> dict[str, Any]:
    """The /v1/ask-shaped answer a recorded /v1/ask/stream body adds up to: the meta frame plus the deltas."""
    meta: dict[str, Any] = {}
    text: list[str] = []
    for frame in body.decode("ascii").split("\n\n"):
        if not frame.startswith("data: ") or frame == "data: [DONE]":
            continue
        msg = json.loads(frame.removeprefix("data: "))
        if msg["type"] == "meta":
            meta = msg
        elif msg["type"] == "delta":
            text.append(msg["text"])
    assert meta, "no meta frame"
    return {**meta, "answer": "".join(text)}


def ask_streamed(page: Page, question: str) -> tuple[Locator, dict[str, Any]]:
    """ask(), and the answer the server streamed for it (to compare what the page shows with what it got)."""
    with page.expect_response(lambda r: urlparse(r.url).path == "/v1/ask/stream") as got:
        answer = ask(page, question)
    return answer, streamed_answer(got.value.body())


def expected_bubble(payload: dict[str, Any]) -> str:
    """The reply bubble: the lead when the server sends one, else the answer's first line; a refusal and a
    generated (AI生成) reply whole."""
    text = str(payload["answer"])
    if not payload["in_scope"] or payload.get("ai_generated"):
        return text.strip()
    lead = payload.get("lead")
    if isinstance(lead, str) and lead.strip():
        return lead.strip()
    return text.split("\n", 1)[0].strip()


def open_all_cards(answer: Locator) -> None:
    closed = answer.locator("details.card:not([open]) > summary")
    for _ in range(closed.count()):
        closed.first.click()
    expect(answer.locator("details.card:not([open])")).to_have_count(0)


def shown_text(node: Locator) -> str:
    """What a reader sees (innerText: nothing hidden, nothing inside a closed card)."""
    return str(node.evaluate("n => n.innerText"))


def assert_each_fact_once(answer: Locator, payload: dict[str, Any], routing: str) -> None:
    """With every card open, the notice's title, the routing and the hotline each appear once (plus any
    mention the lead itself makes: the lead is the server's sentence, shown as sent)."""
    open_all_cards(answer)
    seen = shown_text(answer)
    lead = expected_bubble(payload)
    name = payload["citations"][0]["doc_title"]  # the notice's name, part of its full title
    assert seen.count(payload["sources"][0]["title"]) == 1 + lead.count(payload["sources"][0]["title"]), seen
    assert seen.count(name) == 1 + lead.count(name), seen
    assert seen.count(routing) == 1 + lead.count(routing), seen
    assert seen.count(payload["hotline"]) == 1 + lead.count(payload["hotline"]), seen
    # the quote is in its card only, not repeated as lines of text
    quote = payload["citations"][0]["quote"]
    assert seen.count(quote) == 1 + lead.count(quote), seen


def message_id(answer: Locator) -> str:
    mid = answer.locator("article.answer").get_attribute("data-message-id")
    assert mid and re.fullmatch(r"[0-9a-f]+", mid)
    return mid


SMALL_TARGETS = """() => [...document.querySelectorAll('a, button, summary, select, textarea, input')]
    .filter((n) => n.getClientRects().length && !n.classList.contains('skip-link'))
    .map((n) => ({ tag: n.tagName, text: (n.textContent || '').trim().slice(0, 16), r: n.getBoundingClientRect() }))
    .filter((x) => x.r.width < 44 || x.r.height < 44)
    .map((x) => `${x.tag} "${x.text}" ${Math.round(x.r.width)}x${Math.round(x.r.height)}`)"""


# --- tests ---------------------------------------------------------------------------------------------
def test_welcome_scope_chips_and_cities_come_from_the_service(page: Page, server: Server) -> None:
    open_chat(page, server)
    docs = httpx.get(f"{server.url}/v1/documents").json()
    welcome = page.locator(".welcome")
    for d in docs:
        expect(welcome).to_contain_text(d["title"])
        expect(welcome).to_contain_text(d["issuer"])
        expect(welcome).to_contain_text(d["date"])
    expect(welcome).to_contain_text("住房公积金")
    expect(welcome.locator('a[href="tel:12333"]')).to_have_text("12333")
    # the notice's title and date are fetched, not written into the page
    for f in [*WEB.glob("*.html"), *WEB.glob("js/*.js")]:
        text = f.read_text(encoding="utf-8")
        assert docs[0]["date"] not in text and docs[0]["name"] not in text, f
    chips = json.loads((WEB / "chips.json").read_text(encoding="utf-8"))
    labels = [g["label"] for g in chips["groups"]]
    assert labels == ["职工", "企业", "高校毕业生", "农民工", "外卖骑手"]
    expect(page.locator(".chip-heading")).to_have_text(labels)
    expect(page.locator(".chip")).to_have_count(sum(len(g["questions"]) for g in chips["groups"]))
    cities = [c["name"] for c in httpx.get(f"{server.url}/v1/cities").json()]
    assert len(cities) == 13
    expect(page.locator("#city option")).to_have_text(["未选择（江苏省）", *cities])
    # every control is a 44 px touch target
    assert page.evaluate(SMALL_TARGETS) == []
    # the CSP the service sends is in force (so the page above ran without inline code)
    assert "script-src 'self'" in httpx.get(server.url + "/").headers["content-security-policy"]


def test_lead_bubble_cards_and_follow_up(page: Page, server: Server, watch: Watch, db_path: Path) -> None:
    open_chat(page, server)
    answer, payload = ask_streamed(page, Q_PLACEMENT)
    assert len(watch.asks("/v1/ask/stream")) == 1 and watch.asks("/v1/ask") == [], "answered by the stream"
    assert watch.asks("/v1/ask/stream")[0] == {"question": Q_PLACEMENT}

    # the reply bubble is the lead (or, from a server without one, the answer's first line)
    expect(answer.locator(".reply")).to_have_count(1)
    expect(answer.locator(".reply")).to_have_text(expected_bubble(payload))
    cards = answer.locator("details.card")
    expect(cards).to_have_count(5 if len(payload["citations"]) > 1 else 4)
    names = [n for n in cards.evaluate_all("ns => ns.map((n) => n.dataset.card)")]
    assert names == ["quote", "offices", "contact", *(["related"] if len(payload["citations"]) > 1 else []), "source"]

    # 原文: collapsed, its summary names the measure; opens by touch and by keyboard
    quote = answer.locator(".card-quote")
    expect(quote.locator("summary")).to_contain_text("原文")
    expect(quote.locator("summary")).to_contain_text("第（七）条")
    expect(quote.locator("summary")).to_contain_text("三、促进产业数字化转型升级")
    expect(quote.locator(".cite-quote")).to_be_hidden()
    quote.locator("summary").click()
    expect(quote.locator(".cite-quote")).to_be_visible()
    expect(quote.locator(".cite-quote")).to_have_text(payload["citations"][0]["quote"])
    expect(quote.locator(".cite-quote")).to_contain_text("拓宽富余从业人员安置渠道")
    quote.locator("summary").press("Enter")
    expect(quote.locator(".cite-quote")).to_be_hidden()
    quote.locator("summary").press("Enter")
    expect(quote.get_by_role("link", name="查看本条全文")).to_have_attribute("href", f"measures.html#{DOC}-7")

    # 责任单位: collapsed, the short names in one line; open, one row per office with the directory's facts
    offices = answer.locator(".card-offices")
    expect(offices.locator(".card-preview")).to_have_text("、".join(PLACEMENT_UNITS))
    offices.locator("summary").click()
    expect(offices.locator(".card-preview")).to_be_hidden()
    expect(offices.locator(".office-name")).to_have_text(
        ["就业处", "就管中心", "职介中心", "各设区市人力资源社会保障局"]
    )
    jiuye = offices.locator(".office-card").filter(has_text="就业处").first
    expect(jiuye.locator(".office-full")).to_have_text("全称待核实：就业促进处")
    expect(jiuye.locator(".office-handles")).to_contain_text("稳岗支持")
    local = offices.locator(".office-card").filter(has_text="各设区市人力资源社会保障局")
    expect(local.locator(".office-handles")).to_contain_text("受理和办理个人、企业的具体事项")

    # 就近办理: open; no city yet, so the prompt to pick one (which focuses the picker); 12333 dials
    contact = answer.locator(".card-contact")
    expect(contact).to_have_attribute("open", "")
    expect(contact).to_contain_text("您所在设区市的人力资源和社会保障局")
    expect(contact.locator('a[href="tel:12333"]')).to_have_text("12333")
    contact.get_by_role("button", name="选择城市，显示具体名称").click()
    expect(page.get_by_label("所在城市")).to_be_focused()

    # 来源: title, issuer, date
    source = answer.locator(".card-source")
    source.locator("summary").click()
    expect(source).to_contain_text(payload["sources"][0]["title"])
    expect(source).to_contain_text("江苏省人力资源和社会保障厅")
    expect(source).to_contain_text("2022年5月23日")
    expect(answer.locator(".note")).to_contain_text("以当地人社部门")
    assert_each_fact_once(answer, payload, "您所在设区市的人力资源和社会保障局")
    expect(answer.locator(".ai-badge")).to_be_hidden()

    follow, follow_payload = ask_streamed(page, "这个找哪个部门")
    second_body = watch.asks("/v1/ask/stream")[1]
    [(session,)] = query(db_path, "SELECT session_id FROM messages WHERE message_id = ?", message_id(answer))
    assert second_body == {"question": "这个找哪个部门", "session_id": session}
    expect(follow.locator(".reply")).to_have_text(expected_bubble(follow_payload))
    expect(follow.locator(".card-quote summary")).to_contain_text("（七）")
    expect(follow.locator(".card-offices .card-preview")).to_contain_text("就业处")

    # "我在苏州" in the same session names the city's bureau, once
    city, city_payload = ask_streamed(page, "我在苏州")
    assert watch.asks("/v1/ask/stream")[2]["session_id"] == second_body["session_id"]
    expect(city.locator(".card-contact .bureau")).to_have_text(SUZHOU_BUREAU)
    expect(city.locator(".card-contact button")).to_have_count(0)
    assert_each_fact_once(city, city_payload, SUZHOU_BUREAU)


def test_city_picker_names_the_city_bureau(page: Page, server: Server, watch: Watch) -> None:
    open_chat(page, server)
    page.get_by_label("所在城市").select_option("苏州")
    expect(page.locator("#form-status")).to_contain_text("苏州")
    answer, payload = ask_streamed(page, "稳岗返还怎么申请？")
    assert watch.asks("/v1/ask/stream")[-1]["city"] == "苏州"
    expect(answer.locator(".card-contact .bureau")).to_have_text(SUZHOU_BUREAU)
    # routing once: the bureau is in 就近办理 only, not again on the office card
    assert_each_fact_once(answer, payload, SUZHOU_BUREAU)
    # remembered for the next visit
    page.reload()
    expect(page.get_by_label("所在城市").locator("option")).to_have_count(14)
    expect(page.get_by_label("所在城市")).to_have_value("苏州")


def test_feedback_is_stored(page: Page, server: Server, db_path: Path) -> None:
    open_chat(page, server)
    good = ask(page, "外卖骑手送餐摔伤了有保障吗？")
    good.get_by_role("button", name="有帮助").click()
    expect(good.locator(".fb-status")).to_have_text("谢谢您的反馈！")
    expect(good.get_by_role("button", name="有帮助")).to_have_attribute("aria-pressed", "true")

    bad = ask(page, "稳岗返还怎么申请？")
    bad.get_by_role("button", name="没帮助").click()
    comment = bad.get_by_label("哪里没帮到您？（选填）")
    expect(comment).to_be_focused()
    comment.fill("想知道具体怎么申请")
    comment.press("Enter")
    expect(bad.locator(".fb-status")).to_have_text("谢谢您的反馈！")

    sql = "SELECT helpful, comment FROM feedback WHERE message_id = ?"
    assert query(db_path, sql, message_id(good)) == [(1, None)]
    assert query(db_path, sql, message_id(bad)) == [(0, "想知道具体怎么申请")]
    assert query(db_path, "SELECT COUNT(*) FROM messages WHERE message_id = ?", message_id(good)) == [(1,)]


def test_html_in_a_question_or_answer_is_text(page: Page, server: Server) -> None:
    open_chat(page, server)
    hostile = "<img src=x onerror=alert(1)>稳岗返还"
    answer = ask(page, hostile)
    expect(page.locator("#log .msg-user .bubble").last).to_have_text(hostile)
    expect(page.locator("#log img")).to_have_count(0)
    expect(answer.locator(".card-quote summary")).to_contain_text("（七）")
    assert page.evaluate("document.querySelectorAll('img, script:not([src]), iframe').length") == 0


def test_out_of_scope_question_is_refused(page: Page, server: Server) -> None:
    open_chat(page, server)
    answer, payload = ask_streamed(page, "住房公积金怎么提取？")
    assert payload["in_scope"] is False
    expect(answer.locator("article.answer")).to_have_class(re.compile(r"\bout-of-scope\b"))
    # a refusal is short: the bubble shows all of it, with the hotline as a phone link, and no measure cards
    bubble = answer.locator(".reply")
    expect(bubble).to_have_text(expected_bubble(payload))
    expect(bubble).to_contain_text("抱歉")
    expect(bubble).to_contain_text("住房公积金")
    expect(bubble.locator('a[href="tel:12333"]')).to_have_text(["12333"] * payload["answer"].count("12333"))
    expect(answer.locator(".card, .cards")).to_have_count(0)
    assert shown_text(answer).count("12333") == payload["answer"].count("12333")


def test_measures_page_lists_all_measures_with_units(page: Page, server: Server) -> None:
    page.goto(server.url + "/measures.html")
    cards = page.locator(".measure-card")
    expect(cards).to_have_count(20)
    expect(page.locator(".measure-section")).to_have_count(10)
    expect(page.locator("#docs")).to_contain_text("江苏省人力资源和社会保障厅")
    for i in range(20):
        expect(cards.nth(i).locator(".unit").first).to_be_visible()
    seventh = page.locator(f"#{DOC}-7")
    expect(seventh.locator(".measure-label")).to_have_text("第（七）条")
    expect(seventh.locator(".unit")).to_have_text(PLACEMENT_UNITS)
    expect(page.locator('main a[href="tel:12333"]')).to_have_text(["12333"])
    assert page.evaluate(SMALL_TARGETS) == []

    # linked from an answer: the anchor scrolls to and marks the measure
    open_chat(page, server)
    answer = ask(page, Q_PLACEMENT)
    answer.locator(".card-quote summary").click()
    answer.get_by_role("link", name="查看本条全文").click()
    page.wait_for_url(f"**/measures.html#{DOC}-7")
    expect(page.locator(f"#{DOC}-7")).to_have_class(re.compile(r"\btarget\b"))
    expect(page.locator(f"#{DOC}-7")).to_be_in_viewport()


def _error_json(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "status": status,
        "content_type": "application/json",
        "headers": headers or {},
        "body": json.dumps({"code": code, "message": message}, ensure_ascii=False),
    }


def test_rate_limited_waits_for_retry_after_then_retries(page: Page, server: Server, watch: Watch) -> None:
    open_chat(page, server)
    page.route(
        "**/v1/ask/stream",
        lambda r: r.fulfill(**_error_json(429, "rate_limited", "请求太频繁了，请稍后再试", {"Retry-After": "2"})),
    )
    answer = ask(page, "稳岗返还怎么申请？")
    card = answer.locator(".error-card")
    expect(card).to_contain_text("提问太频繁了")
    expect(card).to_contain_text("请等 2 秒后再试")
    retry = card.get_by_role("button", name="重试")
    expect(retry).to_be_disabled()
    # scrolled into view above the sticky question box, not under it
    box, composer = card.bounding_box(), page.locator(".composer").bounding_box()
    assert box and composer and box["y"] + box["height"] <= composer["y"] + 1
    page.get_by_label("您的问题").fill("再问一次")
    page.get_by_label("您的问题").press("Enter")
    expect(page.locator("#form-status")).to_contain_text("提问太频繁了")
    page.unroute("**/v1/ask/stream")
    expect(retry).to_be_enabled(timeout=5000)
    retry.click()
    done = page.locator("#log > li.msg-bot").last
    expect(done.locator(".card-quote summary")).to_contain_text("（七）")
    assert len(watch.asks("/v1/ask/stream")) == 2


def test_network_failure_and_service_not_ready(page: Page, server: Server) -> None:
    open_chat(page, server)
    page.route("**/v1/ask**", lambda r: r.abort("internetdisconnected"))
    card = ask(page, "稳岗返还怎么申请？").locator(".error-card")
    expect(card).to_contain_text("网络连接失败")
    expect(card).to_contain_text("12333")
    page.unroute("**/v1/ask**")

    page.route("**/v1/ask/stream", lambda r: r.fulfill(**_error_json(503, "not_ready", "服务正在启动，请稍后再试")))
    card = ask(page, "稳岗返还怎么申请？").locator(".error-card")
    expect(card).to_contain_text("服务正在启动")
    expect(card.locator('a[href="tel:12333"]')).to_have_text("12333")
    page.unroute("**/v1/ask/stream")
    card.get_by_role("button", name="重试").click()
    expect(page.locator("#log > li.msg-bot").last.locator(".card-quote")).to_have_count(1)


def test_busy_service_503_with_retry_after(page: Page, server: Server, watch: Watch) -> None:
    """Back-pressure: a 503 with Retry-After is a calm "try again later" with the wait, then a retry."""
    open_chat(page, server)
    page.route(
        "**/v1/ask/stream",
        lambda r: r.fulfill(**_error_json(503, "busy", "当前咨询人数较多，请稍后再试", {"Retry-After": "2"})),
    )
    card = ask(page, "稳岗返还怎么申请？").locator(".error-card")
    expect(card).to_have_attribute("data-status", "503")
    expect(card.locator(".error-title")).to_contain_text("稍后再试")
    expect(card).to_contain_text("请 2 秒后点“重试”")
    expect(card).not_to_contain_text("服务正在启动")
    retry = card.get_by_role("button", name="重试")
    expect(retry).to_be_disabled()
    expect(card.locator(".countdown")).to_contain_text("秒后可重试")
    page.unroute("**/v1/ask/stream")
    expect(retry).to_be_enabled(timeout=5000)
    retry.click()
    expect(page.locator("#log > li.msg-bot").last.locator(".card-quote")).to_have_count(1)
    assert len(watch.asks("/v1/ask/stream")) == 2 and watch.asks("/v1/ask") == [], "a 503 is not re-asked in one piece"


def test_question_length_limit(page: Page, server: Server, watch: Watch) -> None:
    open_chat(page, server)
    box = page.get_by_label("您的问题")
    box.fill("稳" * 500)
    expect(page.locator("#counter")).to_have_text("500/500")
    expect(page.locator("#counter")).not_to_have_class(re.compile(r"\bover\b"))
    box.fill("稳" * 501)
    expect(page.locator("#counter")).to_have_text("501/500")
    expect(page.locator("#counter")).to_have_class(re.compile(r"\bover\b"))
    box.press("Enter")
    expect(page.locator("#form-status")).to_contain_text("问题太长了，请控制在500字以内")
    assert watch.asks("/v1/ask/stream") == []
    # the server's 413 is explained too (and the question is put back for editing)
    page.route(
        "**/v1/ask/stream",
        lambda r: r.fulfill(**_error_json(413, "question_too_long", "问题太长了，请控制在500字以内")),
    )
    card = ask(page, "稳岗返还怎么申请？").locator(".error-card")
    expect(card).to_contain_text("问题太长了，请控制在500字以内")
    expect(box).to_have_value("稳岗返还怎么申请？")


def test_falls_back_to_plain_ask(page: Page, server: Server, watch: Watch) -> None:
    open_chat(page, server)
    # no stream endpoint behind some proxy
    page.route("**/v1/ask/stream", lambda r: r.fulfill(**_error_json(404, "not_found", "没有这个地址")))
    with page.expect_response(lambda r: urlparse(r.url).path == "/v1/ask") as got:
        answer = ask(page, Q_PLACEMENT)
    expect(answer.locator(".card-quote summary")).to_contain_text("（七）")
    expect(answer.locator(".reply")).to_have_text(expected_bubble(got.value.json()))
    assert len(watch.asks("/v1/ask")) == 1
    page.unroute("**/v1/ask/stream")

    # a stream that breaks after the first frames: asked again in one piece, rendered once
    raw = STREAM_FIXTURE.read_bytes()
    broken = raw[: raw.index(b'"type":"delta"') + 200]

    def cut(route: Route) -> None:
        route.fulfill(status=200, content_type="text/event-stream", body=broken)

    page.route("**/v1/ask/stream", cut)
    with page.expect_response(lambda r: urlparse(r.url).path == "/v1/ask") as got:
        answer = ask(page, "外卖骑手送餐摔伤了有保障吗？")
    expect(answer.locator(".reply")).to_have_count(1)
    expect(answer.locator(".reply")).to_have_text(expected_bubble(got.value.json()))
    expect(answer.locator(".card-quote")).to_have_count(1)
    expect(answer.locator(".card-contact")).to_have_count(1)
    expect(answer.locator(".card-quote summary")).to_contain_text("（十四）")
    assert len(watch.asks("/v1/ask")) == 2


def stream_with_lead(raw: bytes, lead: str, **extra: Any) -> bytes:
    """A recorded stream as the extended contract sends it: ``lead`` (and ``extra``) in the meta frame, and the
    lead also as the first line of the answer text."""
    frames = []
    for frame in raw.decode("ascii").split("\n\n"):
        if not frame.startswith("data: "):
            continue
        data = frame.removeprefix("data: ")
        if data == "[DONE]":
            frames.append(data)
            continue
        msg = json.loads(data)
        if msg["type"] == "meta":
            msg.update(lead=lead, **extra)
        frames.append(json.dumps(msg, ensure_ascii=True, separators=(",", ":")))
        if msg["type"] == "meta":
            frames.append(json.dumps({"type": "delta", "text": lead + "\n"}, ensure_ascii=True))
    return "".join(f"data: {f}\n\n" for f in frames).encode("ascii")


def test_lead_and_lang_from_the_meta_frame(page: Page, server: Server) -> None:
    """The extended contract (``lead``, ``lang``), on a recorded stream carrying those fields. (A generated
    reply, ``ai_generated: true``, has no lead: see the tests of the optional LLM below.)"""
    lead = "可以。文件写明：通过转型转产、主辅分离等举措，拓宽富余从业人员安置渠道。"
    body = stream_with_lead(STREAM_FIXTURE.read_bytes(), lead, ai_generated=False, lang="zh-Hans")
    payload = streamed_answer(body)
    assert payload["answer"].split("\n", 1)[0] == lead == payload["lead"]
    open_chat(page, server)
    page.route("**/v1/ask/stream", lambda r: r.fulfill(status=200, content_type="text/event-stream", body=body))
    answer = ask(page, Q_PLACEMENT)
    answer_top_in_view(page, answer)
    expect(answer.locator(".reply")).to_have_text(lead)
    expect(answer.locator(".ai-badge")).to_be_hidden()
    expect(answer.locator("article.answer")).to_have_attribute("lang", "zh-Hans")
    cards = answer.locator("details.card")
    assert cards.evaluate_all("ns => ns.map((n) => n.dataset.card)") == ["quote", "offices", "contact", "source"]
    # the measure's own line is not in the bubble any more; the card names the measure
    expect(answer.locator(".reply")).not_to_contain_text("适用政策")
    expect(answer.locator(".card-quote summary")).to_contain_text("第（七）条")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-390-lead.png"))
    assert_each_fact_once(answer, payload, "您所在设区市的人力资源和社会保障局")


def test_page_sse_parser_on_a_recorded_stream(page: Page, server: Server) -> None:
    """web/js/sse.js, in the browser, on a real /v1/ask/stream response split at every byte offset."""
    page.goto(server.url + "/")
    raw = list(STREAM_FIXTURE.read_bytes())
    result = page.evaluate(
        """async (raw) => {
            const { SSEParser, toMessage } = await import('./js/sse.js');
            const bytes = new Uint8Array(raw);
            const parse = (chunks) => {
                const p = new SSEParser();
                const out = [];
                for (const c of chunks) for (const e of p.feed(c)) out.push(toMessage(e));
                for (const e of p.end()) out.push(toMessage(e));
                return JSON.stringify(out);
            };
            const whole = parse([bytes]);
            let bad = [];
            for (let i = 0; i <= bytes.length; i += 1) {
                if (parse([bytes.slice(0, i), bytes.slice(i)]) !== whole) bad.push(i);
            }
            const ones = [];
            for (let i = 0; i < bytes.length; i += 1) ones.push(bytes.slice(i, i + 1));
            const crlf = new TextEncoder().encode(new TextDecoder().decode(bytes).replace(/\\n/g, '\\r\\n'));
            for (let i = 0; i <= crlf.length; i += 7) {
                if (parse([crlf.slice(0, i), crlf.slice(i)]) !== whole) bad.push('crlf ' + i);
            }
            return { whole: JSON.parse(whole), bad, ones: parse(ones) === whole };
        }""",
        raw,
    )
    assert result["bad"] == [] and result["ones"]
    messages = result["whole"]
    assert messages[0]["type"] == "meta" and messages[0]["citations"][0]["label"] == "（七）"
    assert messages[-2]["type"] == "end" and messages[-1] == {"done": True}
    text = "".join(m["text"] for m in messages if m.get("type") == "delta")
    assert "（七）" in text and text.startswith(messages[0].get("lead") or text[:1])


def answer_top_in_view(page: Page, answer: Locator) -> None:
    """The answer's top is on screen, below any sticky header and clear of the sticky question box."""
    box = answer.bounding_box()
    band = page.evaluate(
        """() => {
            const pinned = (n) => ['sticky', 'fixed'].includes(getComputedStyle(n).position);
            const top = document.querySelector('.topbar');
            const composer = document.querySelector('.composer');
            return {
                top: pinned(top) ? top.getBoundingClientRect().bottom : 0,
                bottom: pinned(composer) ? composer.getBoundingClientRect().top : innerHeight,
            };
        }"""
    )
    assert box is not None
    # at least the first line of the reply (about 28 px) is readable above the question box
    assert band["top"] <= box["y"] <= band["bottom"] - 40, (box, band)


@pytest.mark.parametrize(("width", "height", "city"), [(320, 568, "苏州"), (375, 667, None)])
def test_layout_at_phone_widths_and_screenshots(
    browser: Browser, server: Server, watch: Watch, width: int, height: int, city: str | None
) -> None:
    with open_page(browser, watch, width, height) as page:
        open_chat(page, server)
        if city:
            page.get_by_label("所在城市").select_option(city)
        # a conversation in progress: the page is scrolled when the next answer comes
        first = ask(page, "稳岗返还怎么申请？")
        answer_top_in_view(page, first)
        answer, payload = ask_streamed(page, Q_PLACEMENT)
        answer_top_in_view(page, answer)
        expect(answer.locator(".reply")).to_have_text(expected_bubble(payload))
        expect(answer.locator(".reply")).to_be_in_viewport()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"web-{width}-answer.png"))  # what the reader sees first

        routing = SUZHOU_BUREAU if city else "您所在设区市的人力资源和社会保障局"
        assert_each_fact_once(answer, payload, routing)  # opens every card
        expect(answer.locator(".office-card")).to_have_count(4)
        expect(answer.locator('.card-contact a[href="tel:12333"]')).to_be_visible()
        # nothing wider than the screen, text not smaller than 12 px, every control a 44 px target
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        smallest = page.evaluate(
            """() => Math.min(...[...document.querySelectorAll('body *')]
                .filter((n) => [...n.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim()))
                .map((n) => parseFloat(getComputedStyle(n).fontSize)))"""
        )
        assert smallest >= 12
        assert page.evaluate(SMALL_TARGETS) == []
        # grow the viewport to the whole page so the sticky question box sits at the bottom of the picture
        full = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": width, "height": min(full, 12000)})
        page.screenshot(path=str(ARTIFACTS / f"web-{width}.png"), full_page=True)
        assert (ARTIFACTS / f"web-{width}.png").stat().st_size > 10_000


def test_a_reader_who_scrolls_up_is_not_pulled_back(page: Page, server: Server) -> None:
    """web/js/follow.js, the page's own scroller, on real wheel and key input in the browser."""
    open_chat(page, server)
    ask(page, "稳岗返还怎么申请？")
    answer = ask(page, Q_PLACEMENT)
    answer_top_in_view(page, answer)
    page.evaluate(
        """async () => {
            const { AnswerFollower } = await import('./js/follow.js');
            window.follower = new AnswerFollower({
                header: document.querySelector('.topbar'), footer: document.querySelector('.composer') });
            window.lastAnswer = () => [...document.querySelectorAll('#log > li.msg-bot')].at(-1);
        }"""
    )
    reveal = "() => follower.reveal(lastAnswer())"
    # not followed by the reader: the answer is brought back into view
    page.evaluate("window.scrollTo(0, 0)")
    page.evaluate("follower.start()")
    assert page.evaluate(reveal) > 0
    answer_top_in_view(page, answer)

    # the reader scrolls up with the wheel while an answer arrives: it stays where the reader put it
    page.evaluate("follower.start()")
    y = page.evaluate("scrollY")
    page.mouse.move(width_center(page), 200)
    page.mouse.wheel(0, -600)
    page.wait_for_function("(y) => scrollY < y", arg=y)
    y = page.evaluate("scrollY")
    assert page.evaluate(reveal) == 0
    assert page.evaluate("scrollY") == y

    # the next question follows again; PageUp on the page (not in the question box) counts as reading back
    page.evaluate("follower.start()")
    assert page.evaluate(reveal) > 0
    page.evaluate("follower.start()")
    page.get_by_label("您的问题").press("ArrowUp")  # moving the caret in the question box is not scrolling
    assert page.evaluate("follower.moved") is False
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("PageUp")
    assert page.evaluate("follower.moved") is True
    assert page.evaluate(reveal) == 0


def width_center(page: Page) -> int:
    size = page.viewport_size
    assert size is not None
    return size["width"] // 2


# --- the optional LLM explanation (bot/llm.py): the label and the replace frame ------------------------------
def _generated_stream(*frames: dict[str, Any]) -> bytes:
    """A /v1/ask/stream body as bot/api.py's explained_frames sends it: the recorded answer's meta, marked as
    generated (with no lead: a generated reply has none in the notice's words), then ``frames``."""
    meta = json.loads(STREAM_FIXTURE.read_text(encoding="ascii").split("\n\n")[0].removeprefix("data: "))
    meta.update(lead="", ai_generated=True)
    body = "".join(f"data: {json.dumps(f, ensure_ascii=True)}\n\n" for f in (meta, *frames)) + "data: [DONE]\n\n"
    return body.encode("ascii")


def test_a_generated_answer_is_labelled_shown_whole_and_keeps_its_cards(
    page: Page, server: Server, watch: Watch
) -> None:
    open_chat(page, server)
    text = "企业可以通过转型转产、主辅分离等办法安置富余人员。\n具体由就业处、就管中心、职介中心负责。"
    body = _generated_stream(
        {"type": "delta", "text": text[:26]},
        {"type": "delta", "text": text[26:]},
        {"type": "end", "message_id": "m1", "ai_generated": True},
    )
    page.route("**/v1/ask/stream", lambda r: r.fulfill(status=200, content_type="text/event-stream", body=body))
    answer = ask(page, Q_PLACEMENT)
    expect(answer.locator(".ai-badge")).to_be_visible()
    expect(answer.locator(".ai-badge")).to_have_text("AI生成")
    # the whole generated text is the reply, not only its first line
    assert "".join(shown_text(answer.locator(".reply")).split()) == "".join(text.split())
    # the citation, the offices and the routing still come from the decision
    expect(answer.locator(".card-quote summary")).to_contain_text("（七）")
    open_all_cards(answer)
    expect(answer.locator(".office-card").first).to_contain_text("就业处")
    expect(answer.locator(".card-contact")).to_have_count(1)
    assert watch.asks("/v1/ask") == []


def test_a_replace_frame_swaps_the_generated_text_for_the_deterministic_answer(
    page: Page, server: Server, watch: Watch
) -> None:
    open_chat(page, server)
    recorded = streamed_answer(STREAM_FIXTURE.read_bytes())
    lead = recorded["answer"].split("\n", 1)[0]
    body = _generated_stream(
        {"type": "delta", "text": "这是一句先通过检查的解读。"},
        {
            "type": "replace",
            "text": recorded["answer"],
            "lead": lead,
            "ai_generated": False,
            "fallback": "guard:number",
        },
        {"type": "end", "message_id": "m2", "ai_generated": False},
    )
    page.route("**/v1/ask/stream", lambda r: r.fulfill(status=200, content_type="text/event-stream", body=body))
    answer = ask(page, Q_PLACEMENT)
    expect(answer.locator(".reply")).to_have_text(expected_bubble({**recorded, "lead": lead}))
    expect(answer.locator(".ai-badge")).to_be_hidden()
    expect(answer).not_to_contain_text("这是一句先通过检查的解读")
    expect(answer.locator(".card-quote")).to_have_count(1)
    assert watch.asks("/v1/ask") == []
