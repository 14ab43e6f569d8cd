"""`refscope serve FILE`: the snapshot page in a real headless Chromium, served on
127.0.0.1 by the real command."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from ._chromium import MISSING_MESSAGE, Chromium, find_chromium

CHROMIUM = find_chromium()
HOSTILE = "<img src=x onerror=\"document.title='owned'\">"

MAKE_SNAPSHOT = textwrap.dedent(
    f"""
    import sys, refscope
    Hostile = type({HOSTILE!r}, (), {{}})
    class Holder:
        pass
    HOLDER = Holder()
    HOLDER.payload = [bytearray(10_000) for _ in range(20)]
    HOLDER.odd = Hostile()
    snap = refscope.snapshot()
    snap.save(sys.argv[1])
    print(id(HOLDER.payload[7]))
    """
)


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "heap.rscp"
    made = subprocess.run(
        [sys.executable, "-c", MAKE_SNAPSHOT, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    return path, int(made.stdout.strip())


def _serve(path, *extra):
    server = subprocess.Popen(
        [sys.executable, "-m", "refscope", "serve", str(path), "--port", "0", *extra],
        stderr=subprocess.PIPE,
        text=True,
    )
    line = server.stderr.readline()
    match = re.search(r"at (http://127\.0\.0\.1:\d+/\S*)", line)
    if match is None:
        server.kill()
        raise AssertionError(f"no URL in {line!r}")
    return server, match.group(1)


@pytest.fixture(scope="module")
def served(snapshot_file):
    server, url = _serve(snapshot_file[0])
    yield url
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip(MISSING_MESSAGE)
    chromium = Chromium(CHROMIUM)
    yield chromium
    chromium.close()


def _wait(page, expression: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {expression}")


def test_page_shows_types_tree_and_why_alive(browser, served, snapshot_file):
    _, item_id = snapshot_file
    browser.open(served)
    _wait(browser, "document.body.dataset.ready === 'summary'")
    summary = browser.evaluate("document.getElementById('summary').textContent")
    assert "objects" in summary and "module" in summary
    names = browser.evaluate(
        "Array.from(document.querySelectorAll('tr.type-row td:first-child'))"
        ".map(t => t.textContent)"
    )
    assert "bytearray" in names
    # Labels are data: the hostile class name is shown as text, never parsed as markup.
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert browser.evaluate("document.title") == "refscope heap snapshot"

    _wait(browser, "document.getElementById('tree').dataset.ready === '1'")
    first = browser.evaluate("document.querySelectorAll('#tree > li.node').length")
    assert first > 0
    browser.evaluate("document.querySelector('#tree > li.node button.expand').click()")
    _wait(browser, "document.querySelector('#tree > li.node ul.tree li.node') !== null")

    browser.evaluate(
        f"document.getElementById('why-input').value = '{hex(item_id)}';"
        "document.querySelector('#why-form button').click()"
    )
    _wait(browser, "document.getElementById('why-result').dataset.done === '1'")
    text = browser.evaluate("document.getElementById('why-result').textContent")
    assert "global HOLDER → .payload → [7]" in text
    assert "retained size: 10," in text
    assert browser.page_errors() == []


def test_a_token_is_required_when_given(snapshot_file):
    server, url = _serve(snapshot_file[0], "--token", "s3cret")
    try:
        assert url.endswith("?token=s3cret")
        bare = url.split("?")[0]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bare + "api/summary", timeout=30)
        assert refused.value.code == 403
        with urllib.request.urlopen(bare + "api/summary?token=s3cret", timeout=30) as answer:
            assert b'"objects"' in answer.read()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_page_policy_allows_its_script_by_a_fresh_nonce_and_no_unsafe_inline(served):
    policies = []
    for _ in range(2):
        with urllib.request.urlopen(served, timeout=30) as answer:
            policy = answer.headers["Content-Security-Policy"]
            page = answer.read().decode()
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", policy).group(1)
        assert page.count(f'nonce="{nonce}"') == 2  # the one script and the one stylesheet
        assert page.count("<script") == 1
        policies.append(policy)
    assert policies[0] != policies[1]
    with urllib.request.urlopen(served.split("?")[0] + "api/summary", timeout=30) as answer:
        assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
