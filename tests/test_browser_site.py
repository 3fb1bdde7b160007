"""The built site in a real browser, offline: headless Chromium against ``tools/build_site.py``'s output.

The site is built once (the session's ``site`` fixture) and served on 127.0.0.1. The index, three
lessons, an exercise and the glossary are opened at 1280 x 900 px, and each page must typeset every
formula with the site's own MathJax, load every image, link only to pages and anchors that exist,
log no console error and ask no other host for anything (see ``browser.py``). Skipped where
Chromium or playwright is missing, failing instead under ``BNLIB_REQUIRE_BROWSER=1``.
"""

import urllib.request
from urllib.parse import unquote, urldefrag, urljoin

import pytest

import browser

PAGES = [
    "index.html",
    "notebooks/00_start_here.html",
    "notebooks/04_the_backward_pass.html",
    "notebooks/10_explorer.html",
    "exercises/release/ex3_batchnorm_backward/ex3_batchnorm_backward.html",
    "GLOSSARY.html",
    # the Chinese edition, a book of its own under zh-CN/
    "zh-CN/index.html",
    "zh-CN/notebooks/00_start_here.html",
    "zh-CN/notebooks/04_the_backward_pass.html",
    "zh-CN/exercises/release/ex3_batchnorm_backward/ex3_batchnorm_backward.html",
    "zh-CN/GLOSSARY.html",
    "zh-CN/TEACHING.html",
]
GLOSSARIES = [name for name in PAGES if name.endswith("GLOSSARY.html")]

MATHJAX_SECONDS = 30  # how long a page may take to load MathJax

# Runs in the page once MathJax has finished: every Sphinx math element (span.math, div.math)
# must hold MathJax's output, no formula may be a TeX error or cut off, and no TeX delimiter may
# be left in the text outside code.
MATH_REPORT = r"""async (seconds) => {
    const scripted = Array.from(document.scripts).some(s => (s.src || '').includes('mathjax'));
    const deadline = Date.now() + 1000 * seconds;  // a MathJax that never loads fails, not hangs
    while (scripted && !(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)
           && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 50));
    }
    if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
        await window.MathJax.startup.promise;
    }
    const math = Array.from(document.querySelectorAll('.math'));
    const article = document.querySelector('.bd-article').getBoundingClientRect();
    // A display formula wider than the column must scroll inside itself (the theme's
    // mjx-container has overflow: auto) or inside its box: nothing is cut off unseen.
    const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
    const clipped = Array.from(document.querySelectorAll('div.math')).filter(box => {
        const formula = box.querySelector('mjx-container');
        const wide = formula && formula.scrollWidth > Math.min(formula.clientWidth, box.clientWidth) + 1;
        return box.getBoundingClientRect().right > article.right + 0.5 || (wide && !scrolls(formula) && !scrolls(box));
    }).map(box => box.textContent.slice(0, 60));
    const prose = document.querySelector('main').cloneNode(true);
    prose.querySelectorAll('pre, code, script, style, .highlight, mjx-container').forEach(e => e.remove());
    return {
        script: scripted ? Array.from(document.scripts).find(s => (s.src || '').includes('mathjax')).src : '',
        formulas: math.length,
        typeset: math.filter(e => e.querySelector('mjx-container')).length,
        untypeset: math.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80)),
        clipped,
        tex_errors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.getAttribute('data-mjx-error')),
        raw_tex: (prose.textContent.match(/.{0,30}(\\\(|\\\[|\$\$|\$\\).{0,30}/g) || []),
    };
}"""

IMAGE_REPORT = (
    """() => Array.from(document.images).map(i => ({src: i.src, loaded: i.complete && i.naturalWidth > 0}))"""
)

# The glossary's table at 1280 px: its right edge within the article and the window, nothing
# scrolled out of sight in its box, and no cell whose content is wider than the cell.
TABLE_REPORT = """() => {
    const table = document.querySelector('.bd-article table');
    const box = table.closest('.pst-scrollable-table-container') || table.parentElement;
    const cells = Array.from(table.querySelectorAll('td, th'));
    return {
        table_right: table.getBoundingClientRect().right,
        article_right: document.querySelector('.bd-article').getBoundingClientRect().right,
        window_width: window.innerWidth,
        box_scroll_width: box.scrollWidth,
        box_width: box.clientWidth,
        overflowing_cells: cells.filter(c => c.scrollWidth > c.clientWidth + 1).map(c => c.textContent.slice(0, 40)),
    };
}"""


@pytest.fixture(scope="module")
def visits(site):
    """Each page of PAGES opened once: what the browser saw on it, and what went wrong there."""
    reports = {}
    with browser.serve(site) as base, browser.chromium({"width": 1280, "height": 900}) as (context, watch):
        page = context.new_page()
        for name in PAGES:
            page.goto(urljoin(base, name), wait_until="load")
            reports[name] = {
                "math": page.evaluate(MATH_REPORT, MATHJAX_SECONDS),
                "images": page.evaluate(IMAGE_REPORT),
                "links": page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"),
                "table": page.evaluate(TABLE_REPORT) if name in GLOSSARIES else None,
                "problems": watch.take(),
            }
        yield base, reports


@pytest.mark.parametrize("name", PAGES)
def test_page_typesets_every_formula_with_the_sites_own_mathjax(visits, name):
    base, reports = visits
    math = reports[name]["math"]
    assert math["formulas"] > 0, f"{name}: no formula found (the check would pass vacuously)"
    book = "zh-CN/" if name.startswith("zh-CN/") else ""  # each book serves its own MathJax
    assert math["script"].startswith(urljoin(base, f"{book}_static/mathjax/")), f"{name}: MathJax from {math['script']}"
    assert math["typeset"] == math["formulas"], f"{name}: not typeset: {math['untypeset'][:5]}"
    assert not math["tex_errors"], f"{name}: TeX errors: {math['tex_errors'][:5]}"
    assert not math["clipped"], f"{name}: display formulas cut off at the column's edge: {math['clipped'][:5]}"
    assert not math["raw_tex"], f"{name}: TeX delimiters left in the text: {math['raw_tex'][:5]}"


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_every_image(visits, name):
    images = visits[1][name]["images"]
    broken = [image["src"] for image in images if not image["loaded"]]
    assert not broken, f"{name}: images that did not load: {broken}"
    if name.startswith("notebooks/"):
        assert images, f"{name}: a lesson page without its figures"


@pytest.mark.parametrize("name", PAGES)
def test_page_links_only_to_pages_and_anchors_that_exist(visits, name):
    base, reports = visits
    local = sorted({href for href in reports[name]["links"] if href.startswith(base)})
    assert local, f"{name}: no local links"
    dead = []
    targets = {}
    for href in local:
        url, fragment = urldefrag(href)
        if url not in targets:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    targets[url] = browser.anchors(response.read().decode("utf-8", errors="replace"))
            except OSError as error:  # urllib's HTTPError (404) and URLError are both OSErrors
                targets[url] = None
                dead.append(f"{href}: {error}")
        if fragment and targets[url] is not None and unquote(fragment) not in targets[url]:
            dead.append(f"{href}: no element with id {unquote(fragment)!r}")
    assert not dead, f"{name}: dead links: {dead}"


@pytest.mark.parametrize("name", PAGES)
def test_page_logs_no_error_and_fetches_nothing_from_outside(visits, name):
    problems = visits[1][name]["problems"]
    assert not problems, f"{name}: " + "; ".join(problems)


@pytest.mark.parametrize("name", GLOSSARIES)
def test_glossary_table_fits_at_1280_px(visits, name):
    table = visits[1][name]["table"]
    assert table["table_right"] <= table["article_right"] + 0.5, table
    assert table["table_right"] <= table["window_width"], table
    assert table["box_scroll_width"] <= table["box_width"], f"part of the table is scrolled out of sight: {table}"
    assert not table["overflowing_cells"], f"cells wider than their column: {table['overflowing_cells']}"
