"""`refscope report FILE --format html`: the snapshot page in a real headless Chromium,
opened from disk (file://), made by the real commands from a real heap."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from ._chromium import MISSING_MESSAGE, Chromium, find_chromium

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=MISSING_MESSAGE)
HOSTILE = "<img src=x onerror=\"document.title='owned'\">"

MAKE_SNAPSHOT = textwrap.dedent(
    f"""
    import json, sys, refscope
    Hostile = type({HOSTILE!r}, (), {{}})
    class Holder:
        pass
    HOLDER = Holder()
    HOLDER.payload = [bytearray(100_000) for _ in range(20)]
    HOLDER.odd = Hostile()
    HOLDER.odd.blob = bytearray(500_000)
    refscope.snapshot().save(sys.argv[1])
    print(json.dumps({{"payload": id(HOLDER.payload), "odd": id(HOLDER.odd)}}))
    """
)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    directory = tmp_path_factory.mktemp("snapshot-report")
    snapshot = directory / "heap.rscp"
    made = subprocess.run(
        [sys.executable, "-c", MAKE_SNAPSHOT, str(snapshot)],
        capture_output=True, text=True, timeout=120,
    )
    assert made.returncode == 0, made.stderr
    page = directory / "heap.html"
    with page.open("w") as output:
        report = subprocess.run(
            [sys.executable, "-X", "dev", "-m", "refscope", "report", str(snapshot),
             "--format", "html"],
            stdout=output, stderr=subprocess.PIPE, text=True, timeout=300,
        )
    assert report.returncode == 0, report.stderr
    return page, json.loads(made.stdout)


@pytest.fixture(scope="module")
def browser():
    chromium = Chromium(CHROMIUM)
    yield chromium
    chromium.close()


def test_page_is_self_contained_and_its_script_runs_under_a_hash_policy(browser, report_page):
    page, _ = report_page
    text = page.read_text()
    policy = text.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert "script-src 'sha256-" in policy and "unsafe-inline" not in policy
    browser.open(page.as_uri())
    assert browser.evaluate("document.body.dataset.ready") == "1"  # the hash matched
    assert browser.requested_urls() == [page.as_uri()]  # loads nothing
    names = browser.evaluate(
        "Array.from(document.querySelectorAll('tr.type-row td:first-child'))"
        ".map(t => t.textContent)"
    )
    assert "bytearray" in names
    # The hostile class name is shown as text, never parsed as markup.
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert browser.evaluate("document.title").startswith("refscope heap snapshot: ")
    assert HOSTILE in browser.evaluate("document.getElementById('tree').textContent")
    assert browser.page_errors() == []


def test_the_dominator_tree_expands_largest_first(browser, report_page):
    page, ids = report_page
    browser.open(page.as_uri())
    node = f"document.querySelector('li.node[data-id=\"{ids['payload']}\"]')"
    assert browser.evaluate(f"{node} !== null")
    assert browser.evaluate(f"{node}.checkVisibility()") is False  # folded away at first
    # Open every enclosing level, outermost first, as a user clicking each row would.
    depth = browser.evaluate(
        f"(() => {{ let n = 0, e = {node}.parentElement; "
        "while (e) { if (e.tagName === 'DETAILS') n++; e = e.parentElement; } return n; })()"
    )
    assert depth >= 1
    browser.evaluate(
        f"(() => {{ const chain = []; let e = {node}.parentElement; "
        "while (e) { if (e.tagName === 'DETAILS') chain.unshift(e); e = e.parentElement; } "
        "chain.forEach(d => d.querySelector(':scope > summary').click()); })()"
    )
    assert browser.evaluate(f"{node}.checkVisibility()") is True
    browser.evaluate(f"{node}.querySelector(':scope > details > summary').click()")
    children = browser.evaluate(
        f"Array.from({node}.querySelectorAll(':scope > details > ul > li.node'))"
        ".map(li => li.textContent)"
    )
    assert len(children) == 10 and all(c.startswith("bytearray") for c in children)
    more = browser.evaluate(f"{node}.querySelector(':scope > details > ul > li.more') !== null")
    assert more  # 20 items, 10 shown: the page says more are kept alive
    retained = browser.evaluate(
        "Array.from(document.querySelectorAll('#tree > li.node > details > summary .label, "
        "#tree > li.node > .label')).map(s => Number(s.textContent.split('retains ')[1]"
        ".split(' B')[0].replaceAll(',', '')))"
    )
    assert retained == sorted(retained, reverse=True)
    assert browser.page_errors() == []


def test_why_alive_answers_from_the_tree_and_by_id(browser, report_page):
    page, ids = report_page
    browser.open(page.as_uri())
    answers = "Number(document.getElementById('why-result').dataset.answers || 0)"
    result = "document.getElementById('why-result').textContent"
    browser.evaluate(f"document.querySelector('button.why[data-id=\"{ids['payload']}\"]').click()")
    assert browser.evaluate(answers) == 1
    text = browser.evaluate(result)
    assert text.startswith("module __main__ → global HOLDER → .payload")
    assert "retained size: 2,00" in text
    assert browser.evaluate("document.getElementById('why-input').value") == hex(ids["payload"])

    browser.evaluate(
        f"document.getElementById('why-input').value = '{hex(ids['odd'])}';"
        "document.querySelector('#why-form button').click()"
    )
    assert browser.evaluate(answers) == 2
    assert browser.evaluate(result).startswith("module __main__ → global HOLDER → .odd")

    browser.evaluate(
        "document.getElementById('why-input').value = '0x10';"
        "document.querySelector('#why-form button').click()"
    )
    assert "0x10 is not one of the" in browser.evaluate(result)
    assert "refscope serve" in browser.evaluate(result)
    assert browser.evaluate("document.querySelectorAll('img').length") == 0
    assert browser.page_errors() == []
