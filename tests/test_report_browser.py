"""The HTML report's formulas as MathML, and the report in a real browser: Debian's chromium, headless, no network.

The formula tests need no browser: every formula of report/formulas.py is well-formed
presentation MathML, printed from the same sympy expression as its LaTeX, with a caption.

The report's code writes its theory section (formulas, table, figure; a small sample) to ``report.html``.
A copy of the page gets a strict Content-Security-Policy (nothing but inline styles,
``data:`` images and the probe script below may load) and a probe script that runs
after the page has loaded and writes what it finds into the DOM, which
``chromium --dump-dom`` prints: the errors the page raised (script errors, resources
that failed, policy violations), every ``<img>``'s natural size, and the layout of the
``<math>`` elements. A formula is drawn *as math* when the browser stacks each
fraction's numerator above its denominator and gives the ``<math>`` box a size; as
plain text the two would sit on one line. Chromium's own console log (stderr) must
show no error either. A screenshot of the original page is left in the test's output
folder (``report.png``).

The browser tests skip, saying why, where chromium is missing (``apt-get install chromium``,
done by .ci/run where apt works as root).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy as sp

from report import document, formulas, theory_stage

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y "
                                                               "chromium; .ci/run does it where apt works as root)")

CSP = ("<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
       "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">")

EARLY = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(
  e.target && e.target !== window ? 'failed to load <' + e.target.tagName + '>' : 'script error: ' + e.message), true);
document.addEventListener('securitypolicyviolation', e => window.__errors.push('blocked by policy: ' + e.blockedURI));
for (const level of ['error', 'warn']) {
  const orig = console[level];
  console[level] = (...a) => { window.__errors.push('console.' + level + ': ' + a.join(' ')); orig.apply(console, a); };
}
</script>"""

PROBE = """<script>
window.addEventListener('load', () => {
  const r = el => el.getBoundingClientRect();
  const imgs = [...document.images].map(i => ({complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}));
  const maths = [...document.querySelectorAll('math')].map(m => {
    const box = r(m);
    const fracs = [...m.querySelectorAll('mfrac')].map(f => {
      const [num, den] = [...f.children].map(r);
      return {stacked: num.bottom <= den.top + 0.5, num_w: num.width, den_w: den.width};
    });
    return {w: box.width, h: box.height, display: getComputedStyle(m).display, fracs: fracs,
            text_len: m.textContent.length};
  });
  const out = document.createElement('pre');
  out.id = '__probe';
  out.textContent = JSON.stringify({errors: window.__errors, imgs: imgs, maths: maths,
                                    body_h: document.body.scrollHeight});
  document.body.appendChild(out);
});
</script>"""


def _chromium(*args: str, profile: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
           "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def _console_messages(stderr: str) -> list[str]:
    """Chromium's log lines for the page's console. The report has no script of its own, so any message is a fault
    (chromium logs every level as ``INFO:CONSOLE``; an uncaught exception as ``"Uncaught ..."``)."""
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]


@pytest.fixture(scope="module")
def report_formulas() -> list[dict]:
    return formulas.formulas()


@pytest.fixture(scope="module")
def page(tmp_path_factory, report_formulas) -> Path:
    """The report's first section, written by the report's own code at a small sample size (fast)."""
    out = tmp_path_factory.mktemp("report_browser")
    rows = theory_stage.rho_table(("gaussian", "laplace"), [1, 2, 3, 4], 20_000, seed=1)
    res = {"rows": rows, "n": 20_000, "figure": theory_stage.plot_rho_vs_bits(rows, out / "rho_vs_bits.png"),
           "formulas": report_formulas}
    _, html = document.write(theory_stage.blocks(res), out, "corrquant study report")
    return html


@pytest.fixture(scope="module")
def probed(page, tmp_path_factory) -> tuple[dict, str]:
    html = page.read_text(encoding="utf-8")
    assert html.count("<head>") == 1 and html.count("</body>") == 1
    test_copy = page.with_name("report_probe.html")
    test_copy.write_text(html.replace("<head>", "<head>" + CSP + EARLY, 1).replace("</body>", PROBE + "</body>", 1),
                         encoding="utf-8")
    res = _chromium("--virtual-time-budget=10000", "--dump-dom", test_copy.as_uri(),
                    profile=tmp_path_factory.mktemp("chromium_profile"))
    m = re.search(r"<pre id=\"__probe\">(.*?)</pre>", res.stdout, re.S)
    assert m, f"chromium printed no probe result (rc {res.returncode}): {res.stderr[-2000:]}"
    data = json.loads(m.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&"))
    return data, res.stderr


def test_formulas_are_mathml_of_the_same_expression_as_their_latex(report_formulas):
    from xml.dom import minidom

    from theory import derivation

    exprs = formulas.expressions()
    assert [f["name"] for f in report_formulas] == list(exprs)
    assert set(exprs) == set(derivation.latex_formulas())  # every derived formula is shown, under the same name
    for f in report_formulas:
        expr, caption = exprs[f["name"]]
        assert f["latex"] == sp.latex(expr) and f["caption"] == caption and len(caption) > 30
        root = minidom.parseString(f["mathml"]).documentElement  # well-formed XML: no raw '<', no HTML-only entity
        assert root.tagName == "math" and root.getAttribute("xmlns") == formulas.MATHML_NS
        assert root.getAttribute("display") == "block"
        text = "".join(n.data for n in root.getElementsByTagName("*") for n in n.childNodes if n.nodeType == n.TEXT_NODE)
        assert "\\" not in text and "piecewise" not in text and "True" not in text, (f["name"], text)
    laplace = next(f for f in report_formulas if f["name"] == "laplace_F0")["mathml"]
    assert "<mtable" in laplace and "otherwise" in laplace and "&lt;" in laplace  # cases, not "piecewise(...)"


def test_formula_blocks_render_in_html_and_markdown(tmp_path):
    block = ("math", r"\rho = 1", formulas.to_mathml(sp.Eq(sp.Symbol("rho"), 1)), "rho is one here.")
    page = document.to_html([block], "t")
    assert "<math xmlns=" in page and "<figcaption>rho is one here.</figcaption>" in page
    assert "<details><summary>LaTeX</summary><pre class='math'>\\rho = 1</pre></details>" in page
    md = document.to_markdown([block], tmp_path)
    assert "*rho is one here.*" in md and "$$\n\\rho = 1\n$$" in md
    assert "<pre class='math'>x</pre>" in document.to_html([("math", "x")], "t")  # LaTeX alone: shown as source
    with pytest.raises(ValueError, match="mathml"):
        document.to_html([("math", "x", "<div>x</div>", "c")], "t")
    with pytest.raises(TypeError, match="expr"):
        formulas.to_mathml("x")


def test_report_page_shows_math_not_identifiers(page):
    html = page.read_text(encoding="utf-8")
    assert html.count("<math ") == len(formulas.expressions())
    assert "<b>E_wq</b>" not in html and "<b>hebbian_F0</b>" not in html  # no bare identifiers as headings
    md = page.with_name("report.md").read_text(encoding="utf-8")
    assert md.count("$$") == 2 * len(formulas.expressions())


@needs_chromium
def test_page_loads_without_errors(probed):
    data, stderr = probed
    assert data["errors"] == [], data["errors"]
    assert _console_messages(stderr) == [], _console_messages(stderr)


@needs_chromium
def test_every_figure_loads(probed, page):
    data, _ = probed
    assert len(data["imgs"]) == page.read_text().count("<img") >= 1
    bad = [i for i, im in enumerate(data["imgs"]) if not (im["complete"] and im["w"] > 0 and im["h"] > 0)]
    assert not bad, f"images that did not load: {bad} of {data['imgs']}"


@needs_chromium
def test_formulas_render_as_math(probed, page):
    data, _ = probed
    maths = data["maths"]
    assert len(maths) == page.read_text().count("<math ") >= 20
    assert all(m["w"] > 0 and m["h"] > 0 for m in maths), [m for m in maths if not (m["w"] > 0 and m["h"] > 0)]
    assert all("math" in m["display"] for m in maths), {m["display"] for m in maths}  # MathML Core: "block math"
    fracs = [f for m in maths for f in m["fracs"]]
    assert len(fracs) >= 10
    # a fraction drawn as math stacks its numerator over its denominator; as text they would share a line
    assert all(f["stacked"] for f in fracs), [f for f in fracs if not f["stacked"]]


@needs_chromium
def test_screenshot(page, tmp_path_factory):
    shot = page.with_name("report.png")
    res = _chromium("--virtual-time-budget=10000", "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri(),
                    profile=tmp_path_factory.mktemp("chromium_profile_shot"))
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", res.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a page with text, formulas and a figure, not a blank frame
    assert _console_messages(res.stderr) == [], _console_messages(res.stderr)  # the page as shipped, no probe
    print(f"screenshot: {shot}")
