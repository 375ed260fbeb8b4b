"""The H5 chat page (web/) in a real browser: Debian's Chromium driven by Playwright, against a real uvicorn.

Covers the streamed answer with its citation and office cards, a follow-up in the same session, the city
picker, feedback stored in SQLite, HTML injection rendered as text, the refusal, the measures page, the
error states (429 with Retry-After, network failure, 503, too long, stream fallbacks), the page's own SSE
parser on a recorded stream, and a 320 px screenshot in test-artifacts/. No request may leave loopback.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
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


@pytest.fixture
def page(browser: Browser, server: Server, watch: Watch) -> Iterator[Page]:
    yield from _open(browser, watch, 390, 844)


@pytest.fixture
def narrow_page(browser: Browser, server: Server, watch: Watch) -> Iterator[Page]:
    yield from _open(browser, watch, 320, 640)


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


def message_id(answer: Locator) -> str:
    mid = answer.locator("article.answer").get_attribute("data-message-id")
    assert mid and re.fullmatch(r"[0-9a-f]+", mid)
    return mid


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
    expect(welcome).to_contain_text("12333")
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
    # the CSP the service sends is in force (so the page above ran without inline code)
    assert "script-src 'self'" in httpx.get(server.url + "/").headers["content-security-policy"]


def test_streamed_answer_citation_offices_and_follow_up(
    page: Page, server: Server, watch: Watch, db_path: Path
) -> None:
    open_chat(page, server)
    answer = ask(page, Q_PLACEMENT)
    assert len(watch.asks("/v1/ask/stream")) == 1 and watch.asks("/v1/ask") == [], "answered by the stream"
    first_body = watch.asks("/v1/ask/stream")[0]
    assert first_body == {"question": Q_PLACEMENT}

    expect(answer.locator(".sec.measure")).to_contain_text("第（七）条")
    expect(answer.locator(".sec.measure")).to_contain_text("三、促进产业数字化转型升级")
    card = answer.locator("details.cite-card")
    expect(card).to_have_count(1)
    expect(card.locator("summary")).to_contain_text("（七）")
    expect(card.locator("summary")).to_contain_text("三、促进产业数字化转型升级")
    expect(card.locator(".cite-quote")).to_contain_text("拓宽富余从业人员安置渠道")
    expect(card.locator(".cite-quote")).to_be_visible()
    card.locator("summary").click()  # collapsible
    expect(card.locator(".cite-quote")).to_be_hidden()
    card.locator("summary").press("Enter")  # and by keyboard
    expect(card.locator(".cite-quote")).to_be_visible()
    expect(card.locator("a")).to_have_attribute("href", f"measures.html#{DOC}-7")

    names = answer.locator(".office-card .office-name")
    expect(names).to_have_text(["就业处", "就管中心", "职介中心", "各设区市人力资源社会保障局"])
    jiuye = answer.locator(".office-card").filter(has_text="就业处").first
    expect(jiuye.locator(".office-full")).to_have_text("全称待核实：就业促进处")
    expect(jiuye.locator(".office-handles")).to_contain_text("稳岗支持")
    contact = answer.locator(".contact-card")
    expect(contact).to_contain_text("您所在设区市的人力资源和社会保障局")
    expect(contact.locator("a.hotline")).to_have_attribute("href", "tel:12333")
    expect(answer).to_contain_text("具体执行以当地人社部门的解释为准")
    expect(answer.locator(".sec.source")).to_contain_text("2022年5月23日")
    # the streamed text did not leave its quoted lines next to the card
    expect(answer.locator(".line")).to_have_count(0)

    follow = ask(page, "这个找哪个部门")
    second_body = watch.asks("/v1/ask/stream")[1]
    [(session,)] = query(db_path, "SELECT session_id FROM messages WHERE message_id = ?", message_id(answer))
    assert second_body == {"question": "这个找哪个部门", "session_id": session}
    expect(follow.locator("details.cite-card summary")).to_contain_text("（七）")
    expect(follow.locator(".office-card .office-name").first).to_have_text("就业处")

    # "我在苏州" in the same session names the city's bureau
    city = ask(page, "我在苏州")
    assert watch.asks("/v1/ask/stream")[2]["session_id"] == second_body["session_id"]
    expect(city.locator(".contact-card .bureau")).to_have_text(SUZHOU_BUREAU)


def test_city_picker_names_the_city_bureau(page: Page, server: Server, watch: Watch) -> None:
    open_chat(page, server)
    page.get_by_label("所在城市").select_option("苏州")
    expect(page.locator("#form-status")).to_contain_text("苏州")
    answer = ask(page, "稳岗返还怎么申请？")
    assert watch.asks("/v1/ask/stream")[-1]["city"] == "苏州"
    expect(answer.locator(".contact-card .bureau")).to_have_text(SUZHOU_BUREAU)
    expect(answer.locator(".office-local")).to_have_text(f"您所在城市：{SUZHOU_BUREAU}")
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
    expect(answer.locator("details.cite-card summary")).to_contain_text("（七）")
    assert page.evaluate("document.querySelectorAll('img, script:not([src]), iframe').length") == 0


def test_out_of_scope_question_is_refused(page: Page, server: Server) -> None:
    open_chat(page, server)
    answer = ask(page, "住房公积金怎么提取？")
    bubble = answer.locator("article.answer")
    expect(bubble).to_have_class(re.compile(r"\bout-of-scope\b"))
    expect(bubble).to_contain_text("抱歉")
    expect(bubble).to_contain_text("住房公积金")
    expect(bubble.locator(".contact-card a.hotline")).to_have_text("12333")
    expect(bubble.locator(".cite-card, .office-card")).to_have_count(0)


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
    expect(seventh.locator(".unit")).to_have_text(["就业处", "就管中心", "职介中心", "各设区市人力资源社会保障局"])

    # linked from an answer: the anchor scrolls to and marks the measure
    open_chat(page, server)
    answer = ask(page, Q_PLACEMENT)
    answer.get_by_role("link", name="查看本条全文和责任单位").click()
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
    expect(done.locator("details.cite-card summary")).to_contain_text("（七）")
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
    page.unroute("**/v1/ask/stream")
    card.get_by_role("button", name="重试").click()
    expect(page.locator("#log > li.msg-bot").last.locator("details.cite-card")).to_have_count(1)


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
    answer = ask(page, Q_PLACEMENT)
    expect(answer.locator("details.cite-card summary")).to_contain_text("（七）")
    assert len(watch.asks("/v1/ask")) == 1
    page.unroute("**/v1/ask/stream")

    # a stream that breaks after the first frames: asked again in one piece, rendered once
    raw = STREAM_FIXTURE.read_bytes()
    broken = raw[: raw.index(b'"type":"delta"') + 200]

    def cut(route: Route) -> None:
        route.fulfill(status=200, content_type="text/event-stream", body=broken)

    page.route("**/v1/ask/stream", cut)
    answer = ask(page, "外卖骑手送餐摔伤了有保障吗？")
    expect(answer.locator("details.cite-card")).to_have_count(1)
    expect(answer.locator(".sec.measure")).to_have_count(1)
    expect(answer.locator(".sec.measure")).to_contain_text("（十四）")
    assert len(watch.asks("/v1/ask")) == 2


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
    assert text.startswith("【适用政策】")


def test_readable_at_320px_and_screenshot(narrow_page: Page, server: Server) -> None:
    page = narrow_page
    open_chat(page, server)
    page.get_by_label("所在城市").select_option("苏州")
    answer = ask(page, Q_PLACEMENT)
    expect(answer.locator(".office-card")).to_have_count(4)
    # nothing wider than the screen, text not smaller than 12 px
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    smallest = page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('body *')]
            .filter((n) => [...n.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim()))
            .map((n) => parseFloat(getComputedStyle(n).fontSize)))"""
    )
    assert smallest >= 12
    ARTIFACTS.mkdir(exist_ok=True)
    # grow the viewport to the whole page so the sticky question box sits at the bottom of the picture
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 320, "height": min(height, 12000)})
    page.screenshot(path=str(ARTIFACTS / "web-320.png"), full_page=True)
    assert (ARTIFACTS / "web-320.png").stat().st_size > 10_000


# --- the optional LLM explanation (bot/llm.py): the label and the replace frame ------------------------------
def _generated_stream(*frames: dict[str, Any]) -> dict[str, Any]:
    """A /v1/ask/stream body with the recorded answer's meta, marked as generated, then ``frames``."""
    meta = json.loads(STREAM_FIXTURE.read_text(encoding="ascii").split("\n\n")[0].removeprefix("data: "))
    meta["ai_generated"] = True
    body = "".join(f"data: {json.dumps(f, ensure_ascii=True)}\n\n" for f in (meta, *frames)) + "data: [DONE]\n\n"
    return {"status": 200, "content_type": "text/event-stream", "body": body}


def test_a_generated_answer_is_labelled_and_keeps_its_citation(page: Page, server: Server, watch: Watch) -> None:
    open_chat(page, server)
    text = "企业可以通过转型转产、主辅分离等办法安置富余人员。具体由就业处、就管中心、职介中心负责。"
    page.route(
        "**/v1/ask/stream",
        lambda r: r.fulfill(
            **_generated_stream(
                {"type": "delta", "text": text[:25]},
                {"type": "delta", "text": text[25:]},
                {"type": "end", "message_id": "m1", "ai_generated": True},
            )
        ),
    )
    answer = ask(page, Q_PLACEMENT)
    expect(answer.locator(".ai-badge")).to_have_count(1)
    expect(answer.locator(".ai-badge")).to_contain_text("AI生成")
    expect(answer).to_contain_text(text)
    expect(answer.locator("details.cite-card")).to_have_count(1)
    expect(answer.locator(".office-card").first).to_contain_text("就业处")
    assert watch.asks("/v1/ask") == []


def test_a_replace_frame_swaps_the_generated_text_for_the_deterministic_answer(
    page: Page, server: Server, watch: Watch
) -> None:
    open_chat(page, server)
    deterministic = "".join(
        json.loads(block.removeprefix("data: "))["text"]
        for block in STREAM_FIXTURE.read_text(encoding="ascii").split("\n\n")
        if '"type":"delta"' in block
    )
    page.route(
        "**/v1/ask/stream",
        lambda r: r.fulfill(
            **_generated_stream(
                {"type": "delta", "text": "这是一句先通过检查的解读。"},
                {"type": "replace", "text": deterministic, "ai_generated": False, "fallback": "guard:number"},
                {"type": "end", "message_id": "m2", "ai_generated": False},
            )
        ),
    )
    answer = ask(page, Q_PLACEMENT)
    expect(answer.locator(".sec.measure")).to_have_count(1)
    expect(answer.locator("details.cite-card")).to_have_count(1)
    expect(answer.locator(".ai-badge")).to_have_count(0)
    expect(answer).not_to_contain_text("这是一句先通过检查的解读")
    assert watch.asks("/v1/ask") == []
