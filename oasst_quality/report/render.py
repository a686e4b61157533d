"""The report's HTML: the Jinja2 template (autoescaped) filled from the metrics and figures alone."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from ..estimate import interval_text
from .sections import SECTIONS


def html(metrics: dict, figures: dict[str, str]) -> str:
    """The page: the findings, then each section of the registry that ``metrics`` holds, in order."""
    env = Environment(
        loader=PackageLoader("oasst_quality.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["num"] = _num
    env.filters["pvalue"] = _pvalue
    env.filters["pct"] = _pct
    env.globals["ci"] = _interval
    env.globals["estimate_ci"] = _estimate_interval
    shown = [s for s in SECTIONS if s.name in metrics]
    return env.get_template("report.html.j2").render(m=metrics, fig=figures, sections=shown)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        text = f"{value:,.{digits}f}"
        return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no "-0.000"
    return str(value)


def _interval(low: Any, high: Any, digits: int = 3, *, pct: bool = False) -> str:
    """An interval as "low – high", or one "–" when the data gave none (never "– – –")."""
    if low is None or high is None:
        return "–"
    show = _pct if pct else (lambda v: _num(v, digits))
    return f"{show(low)} – {show(high)}"


def _estimate_interval(e: dict, digits: int = 3, *, pct: bool = False, confidence: bool = False) -> str:
    """An estimate's interval as "low – high" (after "95% CI ", its confidence, with ``confidence``),
    or "no interval: REASON" where the data gave none (:func:`oasst_quality.estimate.interval_text`)."""
    prefix = f"{e['confidence']:.0%} CI " if confidence else ""
    return interval_text(e, form=prefix + "{low} – {high}", show=_pct if pct else lambda v: _num(v, digits))


def _pct(value: Any) -> str:
    """A share as a percentage with one decimal ("–" when missing)."""
    return "–" if value is None else f"{100 * value:.1f}%"


def _pvalue(value: Any) -> str:
    """A p-value as a reader wants it: 4 decimals, and "< 0.0001" rather than 0.0000."""
    if value is None:
        return "–"
    return "< 0.0001" if value < 1e-4 else f"{value:.4f}"
