"""A report as a list of blocks, rendered to Markdown and to one self-contained HTML page.

Blocks are plain tuples so stages can build them without any framework:

- ``("h", level, text)``
- ``("p", text)``               a paragraph (inline ``code`` and **bold** kept as Markdown)
- ``("table", headers, rows)``  rows are lists of cells (numbers are formatted)
- ``("img", path, caption)``    a PNG in the output folder (embedded as base64 in HTML)
- ``("math", latex)``           a display formula (LaTeX only: shown as source in HTML)
- ``("math", latex, mathml, caption)``  a display formula with its presentation MathML (a ``<math>``
  element, drawn by the browser without scripts or network) and a plain-words caption; the HTML keeps
  the LaTeX in a collapsed ``<details>``, the Markdown shows the caption and the LaTeX
- ``("code", text)``            preformatted text
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

Block = tuple


def fmt(x: Any, digits: int = 4) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if x != x:
            return "n/a"
        if x == 0 or 1e-3 <= abs(x) < 1e5:
            return f"{x:.{digits}f}".rstrip("0").rstrip(".") if "." in f"{x:.{digits}f}" else f"{x:.{digits}f}"
        return f"{x:.{digits - 1}e}"
    return str(x)


def to_markdown(blocks: list[Block], out_dir: Path) -> str:
    lines: list[str] = []
    for b in blocks:
        kind = b[0]
        if kind == "h":
            lines += ["#" * b[1] + " " + b[2], ""]
        elif kind == "p":
            lines += [b[1], ""]
        elif kind == "table":
            headers, rows = b[1], b[2]
            lines.append("| " + " | ".join(map(str, headers)) + " |")
            lines.append("|" + "|".join("---" for _ in headers) + "|")
            for r in rows:
                lines.append("| " + " | ".join(fmt(c) for c in r) + " |")
            lines.append("")
        elif kind == "img":
            rel = Path(b[1]).resolve().relative_to(out_dir.resolve())
            lines += [f"![{b[2]}]({rel.as_posix()})", "", f"*{b[2]}*", ""]
        elif kind == "math":
            if len(b) > 3 and b[3]:
                lines += [f"*{b[3]}*", ""]
            lines += ["$$", b[1], "$$", ""]
        elif kind == "code":
            lines += ["```", b[1].rstrip("\n"), "```", ""]
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    return "\n".join(lines)


def _inline(text: str) -> str:
    t = html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
    t = re.sub(r"(?<![*\w])\*([^*]+)\*(?![*\w])", r"<i>\1</i>", t)
    return t


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}
pre{background:#f6f6f6;padding:0.8em;overflow-x:auto}
figure{margin:1em 0} figcaption{font-style:italic;color:#555}
img{max-width:100%}
figure.formula{margin:1.2em 0;padding:0.4em 0.8em;border-left:3px solid #ddd;overflow-x:auto}
math[display=block]{font-size:1.15em;margin:0.3em 0}
details summary{cursor:pointer;color:#555;font-size:0.85em}
"""


def _formula(latex: str, mathml: str | None = None, caption: str | None = None) -> str:
    """A display formula: the browser's MathML when given (LaTeX in a collapsed block), else the LaTeX source."""
    if mathml is None:
        return f"<pre class='math'>{html.escape(latex)}</pre>"
    if not mathml.startswith("<math") or not mathml.endswith("</math>"):
        raise ValueError(f"mathml: expected one <math> element, got {mathml[:40]!r}...")
    cap = f"<figcaption>{_inline(caption)}</figcaption>" if caption else ""
    return (f"<figure class='formula'>{mathml}{cap}<details><summary>LaTeX</summary>"
            f"<pre class='math'>{html.escape(latex)}</pre></details></figure>")


def to_html(blocks: list[Block], title: str) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"]
    for b in blocks:
        kind = b[0]
        if kind == "h":
            parts.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
        elif kind == "p":
            parts.append(f"<p>{_inline(b[1])}</p>")
        elif kind == "table":
            head = "".join(f"<th>{_inline(str(h))}</th>" for h in b[1])
            body = "".join("<tr>" + "".join(f"<td>{_inline(fmt(c))}</td>" for c in r) + "</tr>" for r in b[2])
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "img":
            data = base64.b64encode(Path(b[1]).read_bytes()).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(b[2])}' src='data:image/png;base64,{data}'><figcaption>{_inline(b[2])}</figcaption></figure>")
        elif kind == "math":
            parts.append(_formula(*b[1:]))
        elif kind == "code":
            parts.append(f"<pre>{html.escape(b[1])}</pre>")
        else:
            raise ValueError(f"unknown block kind {kind!r}")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(blocks: list[Block], out_dir: Path, title: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "report.md"
    md.write_text(f"# {title}\n\n" + to_markdown(blocks, out_dir), encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(to_html([("h", 1, title), *blocks], title), encoding="utf-8")
    return md, page
