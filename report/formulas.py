"""The derived formulas of :mod:`theory.derivation` as readable math: presentation MathML plus LaTeX.

Each formula is one sympy expression ``lhs = rhs`` whose right-hand side is what
``theory.derivation`` derives (partial moments, family correlations, the ternary
stationarity condition ...).  The same expression is printed twice: as LaTeX
(for the Markdown report and anyone who wants to copy it) and as presentation
MathML (W3C, *Mathematical Markup Language (MathML) Version 4*), which current
browsers draw natively, with no script and no network.  Every formula carries a
plain-words caption.

sympy's MathML printer writes text nodes unescaped and prints ``Piecewise`` as
``piecewise(...)``; the small printer below fixes what these formulas need:
escaped relations, piecewise definitions as a brace with cases, function names
with subscripts (``F_0``), the step function shown with its argument only
(``theta(0) = 0`` is said in the caption), and a plain ``e``.
"""

from __future__ import annotations

import html.entities
import re
from typing import Any

import sympy as sp
from sympy.printing.mathml import MathMLPresentationPrinter

MATHML_NS = "http://www.w3.org/1998/Math/MathML"


class Mean(sp.Function):
    """Display-only ``E[...]`` (an expectation over the weight density), printed with square brackets."""

    nargs = 1

    def _latex(self, printer: Any) -> str:
        return rf"E[{printer._print(self.args[0])}]"

    def _mathml_presentation(self, printer: Any) -> Any:
        inner = printer._print(self.args[0])
        if inner.tagName == "mi":
            inner.setAttribute("mathvariant", "italic")  # "wq" is a product, not a multi-letter name
        return printer._fenced(inner, "[", "]", prefix="E")


class _Printer(MathMLPresentationPrinter):
    def _text(self, tag: str, text: str) -> Any:
        el = self.dom.createElement(tag)
        el.appendChild(self.dom.createTextNode(text))  # sympy's text nodes are raw: escape ourselves
        return el

    def _fenced(self, inner: Any, left: str, right: str, prefix: str | None = None) -> Any:
        row = self.dom.createElement("mrow")
        if prefix is not None:
            row.appendChild(self._text("mi", prefix))
        row.appendChild(self._text("mo", left))
        row.appendChild(inner)
        row.appendChild(self._text("mo", right))
        return row

    def _print_Relational(self, e: Any) -> Any:
        ops = {"==": "=", "!=": "&#x2260;", "<": "&lt;", "<=": "&#x2264;", ">": "&gt;", ">=": "&#x2265;"}
        row = self.dom.createElement("mrow")
        row.appendChild(self._print(e.lhs))
        row.appendChild(self._text("mo", ops[e.rel_op]))
        row.appendChild(self._print(e.rhs))
        return row

    def _print_Exp1(self, e: Any) -> Any:
        return self._text("mi", "e")

    def _print_Heaviside(self, e: Any) -> Any:
        return self._fenced(self._print(e.args[0]), "(", ")", prefix="\u03b8")  # sympy's LaTeX writes \theta too

    def _print_Function(self, e: Any) -> Any:
        if not isinstance(e.func, sp.core.function.UndefinedFunction):
            return super()._print_Function(e)
        row = self.dom.createElement("mrow")
        row.appendChild(self._print_Symbol(sp.Symbol(e.func.__name__)))  # subscripts and Greek letters
        row.appendChild(self._paren_comma_separated(*e.args))
        return row

    def _print_Piecewise(self, e: Any) -> Any:
        table = self.dom.createElement("mtable")
        table.setAttribute("columnalign", "left left")
        for value, cond in e.args:
            tr = self.dom.createElement("mtr")
            td = self.dom.createElement("mtd")
            td.appendChild(self._print(value))
            tr.appendChild(td)
            td = self.dom.createElement("mtd")
            row = self.dom.createElement("mrow")
            if cond == sp.true:
                row.appendChild(self._text("mtext", "\u2003otherwise"))
            else:
                row.appendChild(self._text("mtext", "\u2003if\u2002"))
                row.appendChild(self._print(cond))
            td.appendChild(row)
            tr.appendChild(td)
            table.appendChild(tr)
        row = self.dom.createElement("mrow")
        brace = self._text("mo", "{")
        brace.setAttribute("stretchy", "true")
        row.appendChild(brace)
        row.appendChild(table)
        return row


def _numeric_entity(m: re.Match) -> str:
    name = m.group(1)
    if name in ("lt", "gt", "amp", "quot", "apos"):
        return m.group(0)
    chars = html.entities.html5.get(name + ";")
    if chars is None:
        raise ValueError(f"unknown entity &{name}; in sympy's MathML")
    return "".join(f"&#x{ord(ch):X};" for ch in chars)


def to_mathml(expr: Any) -> str:
    """``expr`` as a display ``<math>`` element (presentation MathML, no script)."""
    if not isinstance(expr, sp.Basic):
        raise TypeError(f"expr must be a sympy expression, got {type(expr).__name__}")
    body = _Printer({"mul_symbol": None}).doprint(expr)
    # sympy writes HTML's named entities (&InvisibleTimes;, &pi;): numeric references keep it well-formed XML too
    body = re.sub(r"&([A-Za-z][A-Za-z0-9]*);", _numeric_entity, body)
    return f'<math xmlns="{MATHML_NS}" display="block">{body}</math>'


def _F(i: int, x: Any) -> Any:
    return sp.Function(f"F_{i}")(x)


_DENSITY_WORDS = {
    "gaussian": "the unit-variance Gaussian density",
    "laplace": "the unit-variance Laplace density (scale 1/sqrt 2)",
    "uniform": "the uniform density on [-sqrt 3, sqrt 3] (unit variance)",
}


def expressions() -> dict[str, tuple[Any, str]]:
    """``{name: (sympy equation, caption)}`` for the formulas the report shows, names as in ``latex_formulas``."""
    from theory import derivation as D

    X = D.X
    w, q, k, K = sp.Symbol("w"), sp.Symbol("q"), sp.Symbol("k", integer=True), sp.Symbol("K", integer=True, positive=True)
    t, c = sp.IndexedBase("t"), sp.IndexedBase("c")
    Ewq, Eq2, Ew2 = Mean(sp.Symbol("wq")), Mean(q**2), Mean(w**2)
    rho, lam, cs = sp.Symbol("rho"), sp.Symbol("lambda", positive=True), sp.Symbol("c")
    cells = "over the K cells of the quantizer (thresholds t_k with t_0 = -inf, t_K = +inf; levels c_k)"
    out: dict[str, tuple[Any, str]] = {
        "E_wq": (sp.Eq(Ewq, sp.Sum(c[k] * (_F(1, t[k]) - _F(1, t[k - 1])), (k, 1, K))),
                 f"E[w q(w)], the numerator of rho: a sum {cells} of each level times the cell's first partial moment."),
        "E_q2": (sp.Eq(Eq2, sp.Sum(c[k] ** 2 * (_F(0, t[k]) - _F(0, t[k - 1])), (k, 1, K))),
                 f"E[q(w)^2], the quantized weights' second moment: a sum {cells} of each squared level times the "
                 "cell's probability."),
        "rho": (sp.Eq(rho, Ewq / sp.sqrt(Ew2 * Eq2)),
                "rho, the correlation between the weights and the quantized weights: the quantity every quantizer "
                "is judged by."),
        "scale_invariance": (sp.Eq(sp.Function("rho")(lam * cs) - sp.Function("rho")(cs), D.scale_invariance(3)),
                             "Scaling all levels by lambda > 0 leaves rho unchanged (sympy simplifies the difference, "
                             "K = 3)."),
        "centroid": (sp.Eq(sp.Symbol("c_k"), D.centroid_stationarity(2)["solutions"][0].subs(
            {sp.Symbol("M_1", real=True): sp.Symbol("M_k"), sp.Symbol("P_1", positive=True): sp.Symbol("P_k")})),
                     "The stationary levels of rho: each level is its cell's centroid M_k / P_k (first moment over "
                     "probability) times one common factor S_2 / S_1 = E[q^2] / E[wq] (J. Max 1960; S. Lloyd 1982)."),
        "centroid_identity": (sp.Eq(rho**2, 1 - sp.Symbol("D") / Ew2),
                              "At the centroid levels, rho squared is one minus the mean squared error D relative "
                              "to E[w^2]: maximizing rho is minimizing the distortion."),
        "hebbian_F0": (sp.Eq(_F(0, X), D.hebbian_partial_moments()[0]),
                       "F0(x) = P(w < x) for a standardised Hebbian entry (2j - p)/sqrt(p) with j ~ Bin(p, 1/2) "
                       "(p stored patterns): a binomial sum; theta is the unit step with theta(0) = 0."),
        "hebbian_F1": (sp.Eq(_F(1, X), D.hebbian_partial_moments()[1]),
                       "F1(x) = E[w; w < x], the first partial moment of the same Hebbian entry; theta is the unit "
                       "step with theta(0) = 0."),
    }
    for name in D.CONTINUOUS:
        F0, F1 = D.partial_moments(name)
        words = _DENSITY_WORDS[name]
        out[f"{name}_F0"] = (sp.Eq(_F(0, X), F0), f"F0(x) = P(w < x), the cumulative probability of {words}.")
        out[f"{name}_F1"] = (sp.Eq(_F(1, X), F1), f"F1(x) = E[w; w < x], the first partial moment of {words}.")
        out[f"{name}_sign_rho"] = (sp.Eq(sp.Symbol("rho_sign"), D.family_rho("sign", name, 2)[0]),
                                   f"rho of the sign (1-bit) quantizer for {words}.")
        out[f"{name}_ternary_rho"] = (sp.Eq(sp.Function("rho_ternary")(D.TERNARY_T), D.ternary_rho(name)),
                                      f"rho of the ternary quantizer (levels -c, 0, +c; dead zone |w| < t) for "
                                      f"{words}, a function of t alone.")
        out[f"{name}_ternary_condition"] = (sp.Eq(D.ternary_condition(name), 0),
                                            f"The optimal ternary dead zone t for {words}: the condition "
                                            "d rho / dt = 0.")
    uni_rho, uni_syms = D.family_rho("uniform", "gaussian", 4)
    out["uniform_family_rho_K4_gaussian"] = (
        sp.Eq(sp.Function("rho_uniform")(*uni_syms), uni_rho),
        "rho of the symmetric 4-level uniform grid with step Delta for Gaussian weights.")
    expo_rho, expo_syms = D.family_rho("exponential", "gaussian", 4)
    out["exponential_family_rho_K4_gaussian"] = (
        sp.Eq(sp.Function("rho_exponential")(*expo_syms), expo_rho),
        "rho of the symmetric 4-level exponential grid (levels +-c, +-c b) for Gaussian weights.")
    return out


def formulas() -> list[dict[str, str]]:
    """The report's formulas as ``{name, caption, latex, mathml}`` dicts (JSON-ready), in display order."""
    return [{"name": name, "caption": caption, "latex": sp.latex(expr), "mathml": to_mathml(expr)}
            for name, (expr, caption) in expressions().items()]
