"""The HTML report in a real headless Chromium, opened from disk (file://).

The report is made from real garbage found by a real ``gc.collect()``: three identical
cycles through an object with ``__del__``, an exception -> traceback -> frame cycle, a
50-object ring, and a class whose name and dict key are hostile markup. Chromium is
driven over the DevTools protocol (``--remote-debugging-pipe``), so the tests see the DOM
after the page's script ran, click like a user, and collect console errors.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
import threading
from collections import Counter

import pytest

import refscope

from ._chromium import MISSING_MESSAGE, Chromium, decode_png, find_chromium

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=MISSING_MESSAGE)

HOSTILE_TYPE = '<script>"&'
HOSTILE_KEY = "</script><b>"


class Resource:
    def __init__(self) -> None:
        self.owner = Owner(self)

    def __del__(self) -> None:
        pass


class Owner:
    def __init__(self, resource: Resource) -> None:
        self.resource = resource


class Node:
    pass


def _raise_and_keep() -> BaseException:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        kept = exc  # frame local -> exception -> traceback -> this frame
        return kept


def _make_garbage() -> None:
    for _ in range(3):
        Resource()
    _raise_and_keep()
    ring = [Node() for _ in range(50)]
    for node, following in zip(ring, ring[1:] + ring[:1], strict=True):
        node.next = following
    del ring, node, following
    hostile = type(HOSTILE_TYPE, (), {})()
    hostile.table = {HOSTILE_KEY: hostile}


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    gc.collect()
    _make_garbage()
    report = refscope.collect()
    path = tmp_path_factory.mktemp("html") / "report.html"
    assert report.to_html(path) == str(path)
    return report, path


@pytest.fixture(scope="module")
def browser():
    chromium = Chromium(CHROMIUM)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser, report_file):
    _, path = report_file
    browser.open(path.as_uri())
    return browser


def test_the_page_lists_every_group_largest_first_after_its_script_ran(page, report_file):
    report, _ = report_file
    rows = page.evaluate(
        "Array.from(document.querySelectorAll('tr.group-row'))"
        ".map(r => [r.querySelector('td.count').textContent, r.querySelector('code').textContent])"
    )
    groups = report.groups
    assert len(rows) == len(groups) >= 4
    assert [count for count, _ in rows] == [f"×{g.count:,}" for g in groups]
    assert rows[0][0] == "×3" and "Resource" in rows[0][1]
    assert page.evaluate("document.querySelectorAll('section.group figure svg').length") == len(
        groups
    )
    assert page.evaluate("document.getElementById('filter-status').textContent") == (
        f"{len(groups)} groups"
    )


def test_finaliser_objects_are_red_and_frames_are_hexagons_in_the_browser(page):
    fills = page.evaluate(
        "Array.from(document.querySelectorAll('g.node.finalizer .shape'))"
        ".map(s => getComputedStyle(s).fill)"
    )
    assert fills and set(fills) == {"rgb(220, 38, 38)"}
    frame_shapes = page.evaluate(
        "Array.from(document.querySelectorAll('g.node.kind-frame .shape')).map(s => s.tagName)"
    )
    assert frame_shapes and set(frame_shapes) == {"path"}


def test_clicking_an_object_shows_its_details(page):
    box = page.evaluate(
        "(() => { const n = document.querySelector('g.node.kind-frame');"
        " n.scrollIntoView({block: 'center'});"
        " const r = n.getBoundingClientRect();"
        " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
    )
    page.click(*box)
    details = page.evaluate(
        "(() => { const d = document.getElementById('details-body');"
        " return {title: d.querySelector('h3').textContent, text: d.textContent,"
        " selected: document.querySelectorAll('g.node.selected').length}; })()"
    )
    assert details["title"] == "frame"
    assert "_raise_and_keep" in details["text"]
    assert "kept" in details["text"]  # the frame's locals
    assert "address0x" in details["text"]
    assert details["selected"] == 1


def test_the_type_filter_hides_groups_that_do_not_match(page, report_file):
    report, _ = report_file
    page.evaluate("document.getElementById('type-filter').focus()")
    page.type_text("owner")
    visible = page.evaluate(
        "Array.from(document.querySelectorAll('section.group'))"
        ".filter(s => !s.hidden && s.offsetParent !== null).length"
    )
    expected = sum(1 for g in report.groups if any("owner" in t.lower() for t in g.example.types))
    assert visible == expected == 1
    assert page.evaluate("document.getElementById('filter-status').textContent") == (
        f"1 of {len(report.groups)} groups match"
    )
    page.evaluate(
        "(() => { const f = document.getElementById('type-filter'); f.value = '';"
        " f.dispatchEvent(new Event('input')); })()"
    )
    page.evaluate("document.getElementById('finalizer-filter').click()")
    shown = page.evaluate(
        "Array.from(document.querySelectorAll('tr.group-row')).filter(r => !r.hidden).length"
    )
    assert shown == sum(1 for g in report.groups if g.has_finalizer) == 1


def test_hostile_names_stay_text_in_the_browser(page):
    assert page.evaluate("document.scripts.length") == 2
    assert page.evaluate("document.querySelectorAll('main b, main script').length") == 0
    texts = page.evaluate("document.querySelector('main').textContent")
    assert HOSTILE_TYPE in texts
    data = json.loads(page.evaluate("document.getElementById('refscope-data').textContent"))
    labels = [info["label"] for info in data["objects"].values()]
    assert any(HOSTILE_KEY in label for label in labels)


def test_the_page_draws_visibly_logs_no_errors_and_requests_nothing_else(page, report_file):
    _, path = report_file
    png = page.screenshot(scale=0.5)
    width, height, channels, pixels = decode_png(png)
    assert (width, height) == (680, 750)
    # Not blank: many distinct colours, a real share of non-background pixels, and the
    # red of a finaliser box among them.
    colours = Counter(tuple(pixels[i:i + 3]) for i in range(0, len(pixels) - 3, channels))
    (background, background_count), = colours.most_common(1)
    total = sum(colours.values())
    assert len(colours) > 50
    assert total - background_count > total // 20
    assert sum(n for (r, g, b), n in colours.items() if r > 200 and g < 60 and b < 60) > 20
    assert page.page_errors() == []
    assert page.requested_urls() == [path.as_uri()]


def test_a_report_of_100k_distinct_cycles_opens_with_its_largest_groups(browser, tmp_path):
    objects: list[object] = []
    for i in range(100_000):
        a, b = Node(), Node()
        setattr(a, f"link_{i}", b)  # its own attribute name: every cycle is its own group
        b.back = a
        objects += (a, b)
    report = refscope.find_cycles(objects, keep_objects=False)
    for obj in objects:  # break the cycles: this test leaves no garbage behind
        obj.__dict__.clear()
    del objects
    path = tmp_path / "big.html"
    report.to_html(path)
    browser.open(path.as_uri())
    assert browser.evaluate("document.querySelectorAll('section.group').length") == 1000
    assert browser.evaluate("document.querySelectorAll('section.group svg g.node').length") == 2000
    more = browser.evaluate("document.querySelector('p.more').textContent")
    assert more.startswith("… 99,000 more groups (of 99,000 cycles) are not shown")
    browser.evaluate("document.getElementById('type-filter').focus()")
    browser.type_text("no such type")
    assert browser.evaluate("document.getElementById('filter-status').textContent") == (
        "0 of 1000 groups match"
    )
    assert browser.page_errors() == []


# --- the page's Content-Security-Policy -------------------------------------------------


def _filter_status(browser) -> str:
    """Set by the page's script when it runs: empty when the script was blocked."""
    return browser.evaluate("document.getElementById('filter-status').textContent")


def test_the_script_runs_under_the_pages_own_policy_without_unsafe_inline(page):
    policy = page.evaluate(
        "document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content"
    )
    assert "unsafe-inline" not in policy and "script-src 'sha256-" in policy
    assert re.fullmatch(r"\d+ groups", _filter_status(page))  # the script ran
    assert page.page_errors() == []


def test_a_script_changed_by_one_character_is_refused_by_the_policy(browser, report_file, tmp_path):
    # The policy is enforced, not decorative: a page whose script no longer matches the
    # hash in its policy runs no script (and Chromium says why).
    _, path = report_file
    page = path.read_text(encoding="utf-8")
    start = page.index("<script>") + len("<script>")
    tampered = tmp_path / "tampered.html"
    tampered.write_text(page[:start] + " " + page[start:], encoding="utf-8")
    browser.open(tampered.as_uri())
    assert _filter_status(browser) == ""
    errors = browser.page_errors()
    assert any("Content Security Policy" in error for error in errors), errors


@contextlib.contextmanager
def _served(app):
    """``app`` served by wsgiref on a free port of 127.0.0.1 in a thread; yields its URL."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

    server = make_server("127.0.0.1", 0, app, handler_class=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _policy_header(browser, url: str) -> str:
    (response,) = [
        event["params"]["response"]
        for event in browser.events[browser.events_of_this_page:]
        if event["method"] == "Network.responseReceived"
        and event["params"]["response"]["url"] == url
    ]
    headers = {name.lower(): value for name, value in response["headers"].items()}
    return headers["content-security-policy"]


def test_the_page_served_by_an_endpoint_runs_its_script_under_the_header_policy(browser):
    from refscope.integrations.wsgi import RefscopeWSGIApp

    with _served(RefscopeWSGIApp()) as base:
        gc.collect()
        Resource()  # garbage for the collection the endpoint runs
        url = f"{base}/collect/?format=html"
        browser.open(url)
        header = _policy_header(browser, url)
        meta = browser.evaluate(
            "document.querySelector('meta[http-equiv=\"Content-Security-Policy\"]').content"
        )
        assert header == meta + "; frame-ancestors 'none'"
        assert "unsafe-inline" not in header
        assert browser.evaluate("document.querySelectorAll('g.node.finalizer').length") >= 1
        assert re.fullmatch(r"\d+ groups?", _filter_status(browser))  # the script ran
        assert browser.page_errors() == []


def test_the_monitor_page_gets_its_stylesheet_by_hash_and_nothing_else(browser):
    from refscope.integrations.wsgi import RefscopeWSGIApp

    monitor = refscope.Monitor(max_overhead=None)
    with _served(RefscopeWSGIApp(monitor=monitor)) as base:
        gc.collect()
        Resource()
        monitor.collect()
        url = f"{base}/cycles/?format=html"
        browser.open(url)
        header = _policy_header(browser, url)
        assert "unsafe-inline" not in header and "style-src 'sha256-" in header
        # The stylesheet applied (tables collapse their borders), and nothing was refused.
        assert browser.evaluate(
            "getComputedStyle(document.querySelector('table')).borderCollapse"
        ) == "collapse"
        assert browser.page_errors() == []
