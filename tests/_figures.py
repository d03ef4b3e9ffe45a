"""One checker for every figure the project draws (notebooks and report): readable at a lecture.

:func:`figure_problems` lists what is wrong with a matplotlib figure; :func:`checking`
hooks ``FigureCanvasBase.print_figure`` (which ``savefig`` and the notebook's inline
display both go through) so that every figure is checked as it is written.

An axes "with data" (lines, collections, patches or containers; pictures drawn with
``imshow`` alone are exempt) must have

- an x and a y label (an axes sharing its column / row with a labelled one counts),
- a title (its own, or the figure's suptitle when it is the figure's only such axes),
- a legend when several artists carry labels,
- every reference line labelled: ``axhline``/``axvline`` lines and the diagonal
  ``y = x`` need a label shown in a legend or written as a text in the axes,
- legend entries, legend titles, texts on the axes, axis labels and titles of at
  least ``MIN_POINTS`` points (8 pt: a lecture's back row), and texts that do not overlap.

This file imports only matplotlib, so it also runs inside a notebook's kernel.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

MIN_POINTS = 8.0


def _same_span(a: Any, b: Any, attr: str) -> bool:
    sa, sb = a.get_subplotspec(), b.get_subplotspec()
    return a is b or (sa is not None and sb is not None and getattr(sa, attr) == getattr(sb, attr))


def _has_data(ax: Any) -> bool:
    return bool(ax.axison and (ax.lines or ax.collections or ax.patches or ax.containers))


def _labelled(artist: Any) -> bool:
    lab = artist.get_label()
    return bool(lab) and not lab.startswith("_")


def _is_reference_line(ax: Any, line: Any) -> bool:
    """An axhline/axvline (drawn in axes coordinates along one direction) or the diagonal y = x."""
    tr = line.get_transform()
    if tr == ax.get_xaxis_transform() or tr == ax.get_yaxis_transform():
        return True
    x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
    return x.size >= 2 and x.shape == y.shape and np.ptp(x) > 0 and np.array_equal(x, y)


def _legend_texts(fig: Any) -> set[str]:
    legends = list(fig.legends) + [a.get_legend() for a in fig.get_axes() if a.get_legend() is not None]
    return {t.get_text() for lg in legends for t in lg.get_texts()}


def figure_problems(fig: Any) -> list[str]:
    """What makes ``fig`` hard to read in a lecture (empty when nothing)."""
    out: list[str] = []
    axes = fig.get_axes()
    data_axes = [a for a in axes if _has_data(a)]
    suptitle = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    legend_texts = _legend_texts(fig)
    try:
        renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else fig._get_renderer()
    except Exception:  # a canvas without a renderer: skip the overlap check only
        renderer = None
    for lg in list(fig.legends) + [a.get_legend() for a in axes if a.get_legend() is not None]:
        small = sorted({t.get_fontsize() for t in [*lg.get_texts(), lg.get_title()] if t.get_text()
                        and t.get_fontsize() < MIN_POINTS})
        if small:
            out.append(f"legend {', '.join(t.get_text() for t in lg.get_texts())[:60]!r}: font {small[0]:g} pt < {MIN_POINTS:g} pt")
    for i, ax in enumerate(data_axes):
        name = ax.get_title() or ax.get_title(loc="left") or suptitle or f"axes {i}"
        if not any(a.get_xlabel() for a in axes if _same_span(a, ax, "colspan")):
            out.append(f"axes {name!r}: no x label")
        if not any(a.get_ylabel() for a in axes if _same_span(a, ax, "rowspan")):
            out.append(f"axes {name!r}: no y label")
        titled = ax.get_title() or ax.get_title(loc="left") or ax.get_title(loc="right")
        if not titled and not (suptitle and len(data_axes) == 1):
            out.append(f"axes {name!r}: no title")
        labelled = [a for a in [*ax.lines, *ax.collections, *ax.patches, *ax.containers] if _labelled(a)]
        if len(labelled) > 1 and not fig.legends and not any(a.get_legend() for a in axes):
            out.append(f"axes {name!r}: {len(labelled)} labelled artists, no legend")
        texts = [t for t in ax.texts if t.get_visible() and t.get_text().strip()]
        written = {t.get_text() for t in texts}
        for line in ax.lines:
            if _is_reference_line(ax, line) and not (_labelled(line) and (line.get_label() in legend_texts
                                                                          or line.get_label() in written)):
                out.append(f"axes {name!r}: reference line {line.get_label()!r} is not labelled (legend or text)")
        for t in [*texts, ax.xaxis.label, ax.yaxis.label, ax.title, ax._left_title, ax._right_title]:
            if t.get_text() and t.get_fontsize() < MIN_POINTS:
                out.append(f"axes {name!r}: text {t.get_text()[:40]!r} at {t.get_fontsize():g} pt < {MIN_POINTS:g} pt")
        if renderer is not None and len(texts) > 1:
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
            for j, (ta, ba) in enumerate(boxes):
                for tb, bb in boxes[j + 1:]:
                    if ba.overlaps(bb):
                        out.append(f"axes {name!r}: texts {ta[:30]!r} and {tb[:30]!r} overlap")
    if suptitle and fig._suptitle.get_fontsize() < MIN_POINTS:
        out.append(f"suptitle {suptitle[:40]!r} at {fig._suptitle.get_fontsize():g} pt")
    return out


class FigureLog:
    """What :func:`checking` saw: how many figures were written and the problems, per figure."""

    def __init__(self) -> None:
        self.count = 0
        self.problems: list[str] = []

    def check(self, fig: Any) -> None:
        self.count += 1
        label = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
        label = label or next((a.get_title() for a in fig.get_axes() if a.get_title()), f"figure {self.count}")
        self.problems += [f"[{label}] {p}" for p in figure_problems(fig)]


@contextlib.contextmanager
def checking() -> Iterator[FigureLog]:
    """Check every figure printed (``savefig``, inline display) inside the block; yields the :class:`FigureLog`."""
    import matplotlib.backend_bases as mbb

    log = FigureLog()
    original = mbb.FigureCanvasBase.print_figure

    def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
        log.check(self.figure)
        return original(self, *args, **kwargs)

    mbb.FigureCanvasBase.print_figure = checked
    try:
        yield log
    finally:
        mbb.FigureCanvasBase.print_figure = original


def install() -> FigureLog:
    """Check every figure printed from now on (for a notebook kernel, which has no ``with`` block around it)."""
    cm = checking()
    log = cm.__enter__()
    install.context = cm  # kept alive for the kernel's lifetime
    return log
