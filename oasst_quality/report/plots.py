"""Matplotlib figures for the report, returned as base64 PNG data URIs (the page needs no network)."""

from __future__ import annotations

import base64
import functools
import io

import matplotlib

matplotlib.use("Agg")  # headless; chosen before pyplot is imported
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd


def _plain_text(plot):
    """Draw labels from the data as plain text: a language code or label name holding ``$...$``
    would otherwise go to matplotlib's mathtext parser, which fails on it (and it is data, not TeX)."""

    @functools.wraps(plot)
    def draw(*args, **kwargs):
        with plt.rc_context({"text.parse_math": False, "text.usetex": False}):
            return plot(*args, **kwargs)

    return draw


def png_uri(data: bytes) -> str:
    """A PNG as a data URI, for an <img> on a page that loads nothing else."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return png_uri(buf.getvalue())


@_plain_text
def bars(counts: dict, title: str, xlabel: str = "", ylabel: str = "messages", top: int = 20) -> str:
    items = list(counts.items())[:top]
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    ax.bar([str(k) for k, _ in items], [v for _, v in items], color="#4c72b0")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", rotation=45 if len(items) > 8 else 0)
    return _uri(fig)


@_plain_text
def intervals(
    table: pd.DataFrame, label: str, est: str, low: str, high: str, title: str, xlabel: str, extra: str | None = None
) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(table) + 1.2))
    y = np.arange(len(table))
    ax.errorbar(
        table[est],
        y,
        xerr=[table[est] - table[low], table[high] - table[est]],
        fmt="o",
        color="#4c72b0",
        capsize=3,
        label=est,
    )
    if extra is not None:
        ax.plot(table[extra], y, "s", color="#dd8452", label=extra)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside: never over a marker
    ax.set_yticks(y, table[label])
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    return _uri(fig)


@_plain_text
def lorenz(x: list, y: list, gini: float) -> str:
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    ax.plot(x, y, color="#4c72b0", label=f"contributors (Gini {gini:.2f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="equal shares")
    ax.set_xlabel("share of contributors (fewest messages first)")
    ax.set_ylabel("share of messages")
    ax.set_title("Lorenz curve of messages per contributor")
    ax.legend(fontsize=8)
    return _uri(fig)


@_plain_text
def zero_bias(table: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    x = np.arange(len(table))
    ax.bar(x - 0.2, table["all_zero_share"], 0.4, label="observed", color="#c44e52")
    ax.bar(x + 0.2, table["all_zero_expected_without_default"], 0.4, label="expected without defaults", color="#8c8c8c")
    ax.set_xticks(x, table["label"])
    ax.set_ylabel("messages whose every vote is 0")
    ax.set_title("All-zero Likert labels: observed vs a model without default zeros")
    ax.legend(fontsize=8)
    return _uri(fig)


@_plain_text
def calibration(table: pd.DataFrame) -> str:
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    ax.plot(table["mean_score"], table["human_positive_share"], "o-", color="#4c72b0")
    ax.set_xscale("symlog", linthresh=1e-3)
    # plain tick text: the default log formatter writes mathtext, which plain-text rendering would show raw
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    ax.set_xlabel("mean Detoxify toxicity score (decile bins)")
    ax.set_ylabel("share labelled toxic by humans (mean >= .5)")
    ax.set_title("Calibration against the human toxicity label")
    return _uri(fig)


@_plain_text
def group_means(table: pd.DataFrame, group: str, title: str) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    x = np.arange(len(table))
    ax.errorbar(
        x,
        table["mean"],
        yerr=[table["mean"] - table["low"], table["high"] - table["mean"]],
        fmt="o",
        capsize=3,
        color="#4c72b0",
    )
    ax.set_xticks(x, table[group].astype(str))
    ax.set_ylabel("mean quality label")
    ax.set_title(title)
    return _uri(fig)
