"""Lessons 00 and 10, and the Chinese lesson 00, as a student meets them: JupyterLab with a live
kernel, in headless Chromium.

JupyterLab (``--allow-root``, its own token, settings, config, data and runtime folders in a
temporary directory) serves a temporary copy of the repository, so running the notebooks never
writes to the committed ones. The throw-away settings switch off the news feed and the update
check, whose toast would otherwise cover the page. Each notebook is opened, its outputs cleared and
"Run All" executed in a fresh kernel; then every code cell must have run without an error output
or a traceback, every output must be on the page, every image loaded, every markdown cell rendered
with its formulas typeset by JupyterLab's bundled MathJax (no ``$`` left), and the page must log no
console error and ask no other host for anything (see ``browser.py``). In lesson 10 every control
of the explorer must render, and three changes of controls must each redraw the figure.

Skipped where Chromium or playwright is missing; failing instead under ``BNLIB_REQUIRE_BROWSER=1``.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import browser

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ["notebooks/00_start_here.ipynb", "zh-CN/notebooks/00_start_here.ipynb", "notebooks/10_explorer.ipynb"]
EXPLORER = "notebooks/10_explorer.ipynb"
# Settings a new user would not have, written to the throw-away settings folder.
SETTINGS = {
    # No news feed, no update check: nothing fetched from the Internet, no toast over the page.
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
STARTUP_SECONDS = 90
RUN_SECONDS = 150
REDRAW_SECONDS = 30

# The notebook panel showing ``path``, if it is the current one.
PANEL = """(path) => {
    const app = window.jupyterapp;
    const widget = app && app.shell.currentWidget;
    return widget && widget.context && widget.context.path === path && widget.content ? widget : null;
}"""

READY = r"""(path) => {
    const panel = (__PANEL__)(path);
    const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
    return Boolean(kernel && kernel.status === 'idle' && panel.content.widgets.length);
}""".replace("__PANEL__", PANEL)

# Run All has finished: the kernel is idle and every code cell has run (or one has failed).
FINISHED = r"""(path) => {
    const panel = (__PANEL__)(path);
    const cells = panel.content.widgets.filter(c => c.model.type === 'code');
    const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
    return panel.sessionContext.session.kernel.status === 'idle'
        && (failed || cells.every(c => c.model.executionCount !== null));
}""".replace("__PANEL__", PANEL)

# What a student sees once the run is over, cell by cell.
REPORT = r"""(path) => {
    const panel = (__PANEL__)(path);
    const report = {code: 0, not_run: [], errors: [], tracebacks: [], outputs_missing: [],
                    markdown: 0, not_rendered: [], untypeset: [], raw_math: [], formulas: 0,
                    tex_errors: [], images: 0, broken_images: [], toasts: 0};
    panel.content.widgets.forEach((cell, index) => {
        const where = `cell ${index + 1}`;
        if (cell.model.type === 'code') {
            report.code += 1;
            if (cell.model.executionCount === null) report.not_run.push(where);
            const outputs = cell.model.outputs.toJSON();
            for (const out of outputs) {
                if (out.output_type === 'error') report.errors.push(`${where}: ${out.ename}: ${out.evalue}`);
                const text = Array.isArray(out.text) ? out.text.join('') : (out.text || '');
                if (out.name === 'stderr' && text.includes('Traceback')) report.tracebacks.push(`${where}: ${text}`);
            }
            const shown = cell.node.querySelectorAll('.jp-OutputArea-child').length;
            if (shown !== outputs.length) report.outputs_missing.push(`${where}: ${shown} of ${outputs.length}`);
        } else if (cell.model.type === 'markdown') {
            report.markdown += 1;
            const rendered = cell.node.querySelector('.jp-MarkdownOutput');
            if (!cell.rendered || !rendered) { report.not_rendered.push(where); return; }
            const typeset = rendered.querySelectorAll('mjx-container').length;
            report.formulas += typeset;
            if (cell.model.sharedModel.getSource().includes('$') && typeset === 0) report.untypeset.push(where);
            const prose = rendered.cloneNode(true);
            prose.querySelectorAll('pre, code, mjx-container').forEach(e => e.remove());
            const raw = prose.textContent.match(/.{0,30}(\$|\\\(|\\\[).{0,30}/g);
            if (raw) report.raw_math.push(`${where}: ${raw.join(' | ')}`);
        }
    });
    const node = panel.content.node;
    report.tex_errors = Array.from(node.querySelectorAll('mjx-merror')).map(e => e.getAttribute('data-mjx-error'));
    const images = Array.from(node.querySelectorAll('img'));
    report.images = images.length;
    report.broken_images = images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 60));
    report.toasts = document.querySelectorAll('.Toastify__toast').length;
    return report;
}""".replace("__PANEL__", PANEL)

# The explorer's figure (the widget image) as the page shows it.
FIGURE = """() => {
    const image = document.querySelector('.jp-Notebook .widget-image');
    return image && {src: image.src, loaded: image.complete && image.naturalWidth > 0};
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.25)
    pytest.fail(f"JupyterLab did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of the repository from a clean state: ``(base URL, token)``."""
    browser.sync_playwright()  # skip (or fail) before starting a server the test cannot use
    tmp = tmp_path_factory.mktemp("lab")
    repo = tmp / "repo"
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "_build", "__pycache__", ".ipynb_checkpoints", ".hypothesis", "*.egg-info"
    )  # the README's virtual environment lives in .venv: not part of what a student opens
    shutil.copytree(ROOT, repo, ignore=ignore)
    for name, values in SETTINGS.items():
        path = tmp / "settings" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    env = dict(
        os.environ,
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        MPLCONFIGDIR=str(tmp / "matplotlib"),
    )
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands, read the notebook model
        "--LabApp.news_url=None",  # the server fetches no news either
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = tmp / "jupyterlab.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        base = f"http://127.0.0.1:{port}/"
        wait_for_server(f"{base}api/status?token={token}", process, log)
        yield base, token
    finally:
        process.terminate()  # the server shuts its kernels down
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the session this fixture started, nothing else
            process.wait()


def run_all(page, base: str, token: str, path: str) -> dict:
    """Open ``path``, clear its outputs, Run All in the fresh kernel, and report what the page shows."""
    page.goto(f"{base}lab/tree/{path}?token={token}")
    page.wait_for_function(READY, arg=path, timeout=STARTUP_SECONDS * 1000, polling=250)
    page.evaluate("async () => { await window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs'); }")
    started = time.monotonic()
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(FINISHED, arg=path, timeout=RUN_SECONDS * 1000, polling=250)
    seconds = time.monotonic() - started
    page.wait_for_timeout(1000)  # MathJax typesets the markdown cells asynchronously
    report = page.evaluate(REPORT, path)
    report["seconds"] = seconds
    return report


@pytest.fixture(scope="module")
def runs(lab):
    """Lessons 00 (both editions) and 10 run in JupyterLab, one tab after the other: their reports (with the
    watch's findings for each), the tab of lesson 10 (still open, for the explorer) and the watch."""
    base, token = lab
    with browser.chromium({"width": 1280, "height": 900}) as (context, watch):
        reports, explorer = {}, None
        for path in NOTEBOOKS:
            page = context.new_page()
            reports[path] = run_all(page, base, token, path)
            reports[path]["problems"] = watch.take()
            print(f"{path}: Run All took {reports[path]['seconds']:.1f} s")
            if path == EXPLORER:
                explorer = page
            else:
                page.close()  # one JupyterLab tab at a time, as a student works
        yield reports, explorer, watch


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_lesson_runs_clean_in_jupyterlab(runs, path):
    report = runs[0][path]
    assert report["code"] > 0 and not report["not_run"], f"{path}: cells that did not run: {report['not_run']}"
    assert not report["errors"], f"{path}: error outputs: {report['errors']}"
    assert not report["tracebacks"], f"{path}: tracebacks on stderr: {report['tracebacks']}"
    assert not report["outputs_missing"], f"{path}: outputs not on the page: {report['outputs_missing']}"
    assert report["images"] > 0 and not report["broken_images"], f"{path}: images not loaded: {report['broken_images']}"
    assert report["toasts"] == 0, f"{path}: {report['toasts']} notification toasts over the notebook"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_lesson_math_is_typeset_by_jupyterlabs_mathjax(runs, path):
    report = runs[0][path]
    assert report["markdown"] > 0 and not report["not_rendered"], f"{path}: not rendered: {report['not_rendered']}"
    assert report["formulas"] > 0, f"{path}: no typeset formula (the check would pass vacuously)"
    assert not report["untypeset"], f"{path}: markdown cells with $ but no typeset formula: {report['untypeset']}"
    assert not report["raw_math"], f"{path}: TeX left as text: {report['raw_math']}"
    assert not report["tex_errors"], f"{path}: TeX errors: {report['tex_errors']}"


@pytest.mark.parametrize("path", NOTEBOOKS)
def test_lesson_logs_no_error_and_fetches_nothing_from_outside(runs, path):
    problems = runs[0][path]["problems"]
    assert not problems, f"{path}: " + "; ".join(problems)


def explorer_descriptions() -> list[str]:
    """The explorer's controls as bnlib builds them (the oracle for what the page must show)."""
    pytest.importorskip("ipywidgets")
    from bnlib.lab.data import load_digits_split
    from bnlib.lab.explorer import ExplorerCache, explorer_widget

    _, controls, _ = explorer_widget(ExplorerCache(load_digits_split()))
    return [control.description for control in controls.values()]


def control(page, kind: str, label: str):
    """The explorer's control of class ``kind`` (``widget-slider`` ...) whose description is ``label``."""
    return page.locator(f".jp-Notebook .{kind}").filter(has=page.locator(".widget-label", has_text=label)).first


def redraw_after(page, change) -> float:
    """Apply ``change`` to the page and return the seconds until the explorer shows a new figure."""
    before = page.evaluate(FIGURE)
    started = time.monotonic()
    change()
    page.wait_for_function(
        """(old) => { const image = document.querySelector('.jp-Notebook .widget-image');
                      return image.src !== old && image.complete && image.naturalWidth > 0; }""",
        arg=before["src"],
        timeout=REDRAW_SECONDS * 1000,
        polling=50,
    )
    return time.monotonic() - started


def test_explorer_controls_render_and_three_changes_redraw_the_figure(runs):
    _, page, watch = runs
    expected = explorer_descriptions()
    labels = page.evaluate(
        """() => Array.from(document.querySelectorAll('.jp-Notebook .widget-image'))
                  .flatMap(image => Array.from(image.closest('.widget-vbox').querySelectorAll('.widget-label')))
                  .filter(label => label.textContent.trim())
                  .map(label => { const box = label.parentElement.getBoundingClientRect();
                                  return [label.textContent.trim(), box.width > 0 && box.height > 0]; })"""
    )
    assert [name for name, _ in labels] == expected, f"the explorer shows {labels}, bnlib builds {expected}"
    assert all(visible for _, visible in labels), f"controls of zero size: {labels}"
    figure = page.evaluate(FIGURE)
    assert figure and figure["loaded"], f"the explorer's figure is not shown: {figure}"

    activation = control(page, "widget-dropdown", "activation").locator("select")
    norm = control(page, "widget-toggle-buttons", "norm")
    depth = control(page, "widget-slider", "depth")
    next_activation = next(o for o in activation.locator("option").all_text_contents() if o != activation.input_value())
    seconds = {
        f"activation -> {next_activation}": redraw_after(page, lambda: activation.select_option(next_activation)),
        "norm -> the next option": redraw_after(page, lambda: norm.locator("button:not(.mod-active)").first.click()),
        "depth + 1": redraw_after(page, lambda: depth.locator(".noUi-handle").press("ArrowRight")),
    }
    print("explorer redraws (s):", {k: round(v, 2) for k, v in seconds.items()})
    assert depth.locator(".widget-readout").inner_text().strip() != "", "the depth slider shows no value"
    errors = page.locator(".jp-Notebook .widget-output .jp-OutputArea-output")
    assert errors.count() == 0, f"the explorer's redraw printed: {errors.all_inner_texts()}"
    problems = watch.take()
    assert not problems, "; ".join(problems)
