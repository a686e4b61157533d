"""Toxicity: Detoxify scoring that works offline, and how well its scores agree with the human labels.

:func:`score_texts` runs a Detoxify model: from the hub by name (needs a network and the
``detoxify`` package), or offline from a checkpoint in Detoxify's format plus a local directory
with the transformers config and tokenizer. Checkpoints are loaded with
``torch.load(weights_only=True)``: one that carries anything but tensors and plain config is
refused and nothing in it runs. torch and transformers are imported only here, when scoring.

The OASST exports also carry Detoxify scores (``detoxify`` field) beside the human labels, so the
comparison needs no model: :func:`export_scores` takes the export's numbers (and says so), and
:func:`agreement_with_labels` compares each head with the human labels that mean the same thing:
Spearman correlation, ROC-AUC against thresholded human labels, both with seeded bootstrap
intervals over messages, per language too; :func:`calibration` and :func:`disagreements` show
where they part.

References
----------
Hanu, L. & Unitary team (2020). Detoxify. https://github.com/unitaryai/detoxify
Hanley, J. A. & McNeil, B. J. (1982). The meaning and use of the area under a ROC curve. Radiology.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import rankdata
from tqdm.auto import tqdm

from . import adapter
from ._util import bootstrap_estimate, torch_device
from .errors import NotComputableError, OasstQualityError, UsageError
from .estimate import Estimate, no_interval_field

#: Detoxify heads and the human OASST labels that measure the same thing.
HEAD_LABELS: dict[str, tuple[str, ...]] = {
    "toxicity": ("toxicity", "not_appropriate", "hate_speech"),
    "severe_toxicity": ("toxicity", "hate_speech"),
    "obscene": ("sexual_content", "not_appropriate"),
    "identity_attack": ("hate_speech",),
    "insult": ("toxicity",),
    "threat": ("violence",),
    "sexual_explicit": ("sexual_content",),
}


# Detoxify's checkpoints name heads differently per model; its own renaming, applied here too.
_HEAD_NAMES = {"toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"}
# transformers classes a checkpoint may ask for: never getattr an arbitrary name from a file.
_MODEL_CLASSES = {
    "BertForSequenceClassification",
    "RobertaForSequenceClassification",
    "XLMRobertaForSequenceClassification",
    "DistilBertForSequenceClassification",
    "AlbertForSequenceClassification",
}


class CheckpointError(OasstQualityError):
    """A checkpoint that cannot be used safely or is not in Detoxify's format."""


def load_checkpoint(path, *, device: str = "cpu") -> dict:
    """Load a Detoxify-format checkpoint safely: tensors and plain config only.

    ``torch.load(..., weights_only=True)`` refuses any pickled object (classes, functions,
    ``__reduce__`` payloads) before it can run; such a file raises :class:`CheckpointError`.
    Returns ``{"model_class", "num_classes", "classes", "state_dict"}``.
    """
    import pickle
    from pathlib import Path

    import torch

    if not Path(path).is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        loaded = torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError) as exc:
        raise CheckpointError(
            f"{path}: refused: the checkpoint holds objects other than tensors and plain config, and loading "
            f"it would run code ({str(exc).splitlines()[0][:200]})"
        ) from None
    try:
        args = loaded["config"]["arch"]["args"]
        classes = list(loaded["config"]["dataset"]["args"]["classes"])
        state_dict = loaded["state_dict"]
        model_class = args["model_name"]
    except (KeyError, TypeError):
        raise CheckpointError(
            f"{path}: not a Detoxify checkpoint (needs config.arch.args, config.dataset.args.classes and state_dict)"
        ) from None
    if model_class not in _MODEL_CLASSES:
        raise CheckpointError(f"{path}: model class {model_class!r} is not one of {sorted(_MODEL_CLASSES)}")
    return {
        "model_class": model_class,
        "num_classes": int(args.get("num_classes", len(classes))),
        "classes": [_HEAD_NAMES.get(c, c) for c in classes],
        "state_dict": state_dict,
    }


def _local_model(checkpoint, config_dir, device: str):
    """Build the transformers model from a local config and load the checkpoint's weights ourselves.

    detoxify 0.5.x calls ``from_pretrained(model_type)`` on the hub even when given a local config
    path; building the class from the local config avoids any network access.
    """
    import transformers

    ckpt = load_checkpoint(checkpoint, device="cpu")
    config = transformers.AutoConfig.from_pretrained(config_dir, num_labels=ckpt["num_classes"], local_files_only=True)
    model = getattr(transformers, ckpt["model_class"])(config)
    missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
    # position_ids buffers differ between transformers versions; any other gap is an error
    missing = [k for k in missing if not k.endswith("position_ids")]
    unexpected = [k for k in unexpected if not k.endswith("position_ids")]
    if missing or unexpected:
        raise CheckpointError(
            f"{checkpoint}: weights do not fit the config in {config_dir} "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    tokenizer = transformers.AutoTokenizer.from_pretrained(config_dir, local_files_only=True)
    return model.to(device).eval(), tokenizer, ckpt["classes"]


def _hub_model(model_type: str, device: str):
    try:
        from detoxify import Detoxify
    except ImportError:
        raise ImportError(
            "scoring by model name needs detoxify: pip install 'oasst_quality[toxicity]'; "
            "offline, pass checkpoint= and config_dir="
        ) from None
    try:
        d = Detoxify(model_type, device=device)
    except OSError as exc:  # URLError and the hub's connection errors are OSErrors
        raise CheckpointError(
            f"could not fetch Detoxify's {model_type!r} model ({str(exc).splitlines()[0][:120]}); "
            "without a network, score offline with a checkpoint file and a config folder "
            "(--checkpoint FILE --config-dir DIR)"
        ) from None
    return d.model.eval(), d.tokenizer, list(d.class_names)


def score_texts(
    texts,
    *,
    model_type: str = "original",
    checkpoint=None,
    config_dir=None,
    device: str | None = None,
    batch_size: int = 32,
    max_length: int = 512,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Score texts with a Detoxify model: one row per text, one column per head (sigmoid outputs).

    ``model_type`` (``"original"``, ``"unbiased"``, ``"multilingual"``) loads Detoxify's released
    model from the hub. With ``checkpoint`` (a file in Detoxify's format) and ``config_dir`` (a local
    directory with the transformers config and tokenizer) it runs with no network. Runs on CUDA when
    present (or ``device``), in batches of ``batch_size``; a progress bar shows for more than 1,000
    texts unless ``progress=False``. The same input gives the same output (the model is in eval mode).
    """
    import torch

    dev = torch_device(device)
    if checkpoint is not None:
        if config_dir is None:
            raise UsageError("an offline checkpoint needs config_dir (transformers config and tokenizer)")
        model, tokenizer, heads = _local_model(checkpoint, config_dir, dev)
    else:
        model, tokenizer, heads = _hub_model(model_type, dev)
    texts = ["" if t is None else str(t) for t in texts]
    # never past the model's position embeddings (Detoxify's BERTs: 512)
    max_length = min(max_length, getattr(model.config, "max_position_embeddings", max_length))
    show = len(texts) > 1000 if progress is None else progress
    out = []
    with torch.inference_mode():
        for start in tqdm(range(0, len(texts), batch_size), disable=not show, desc="toxicity", unit="batch"):
            batch = tokenizer(
                texts[start : start + batch_size],
                return_tensors="pt",
                truncation=True,
                padding=True,
                max_length=max_length,
            ).to(dev)
            out.append(torch.sigmoid(model(**batch).logits.float()).cpu().numpy())
    scores = np.concatenate(out) if out else np.empty((0, len(heads)))
    frame = pd.DataFrame(scores, columns=heads)
    frame["source"] = f"checkpoint:{checkpoint}" if checkpoint is not None else f"detoxify:{model_type}"
    return frame


def dataset_scores(dataset, *, prefer_export: bool = True, **score_kw) -> pd.DataFrame:
    """Detoxify scores for a Dataset's messages, indexed by message id, with a ``source`` per row.

    The export's own scores are used where present (``prefer_export``); a model (``score_kw`` as
    for :func:`score_texts`) scores the messages that have none, or every message when
    ``prefer_export=False``. With no model given, only the export's scores are returned.
    """
    have = export_scores(dataset) if prefer_export and not adapter.scores(dataset).empty else None
    if not score_kw:
        if have is None:
            raise OasstQualityError(
                "the export carries no Detoxify scores; give a model (checkpoint= and "
                "config_dir=, or model_type=) to score the texts"
            )
        return have
    m = adapter.messages(dataset)
    todo = m if have is None else m[~m["item"].isin(have.index)]
    scored = score_texts(todo["text"].tolist(), **score_kw)
    scored.index = pd.Index(todo["item"], name="item")
    return scored if have is None else pd.concat([have, scored])


def export_scores(dataset) -> pd.DataFrame:
    """The export's Detoxify scores, one row per message and one column per head, plus ``source``."""
    long = adapter.scores(dataset)
    items, (rows,) = _ids(long["item"])
    return _scores_table(long, rows, items)


def _scores_table(long: pd.DataFrame, rows: np.ndarray, items: pd.Index) -> pd.DataFrame:
    heads, names = pd.factorize(long["head"].to_numpy(dtype=object), sort=True)
    wide = _wide(rows, heads, long["score"], items, pd.Index(names, dtype=object, name="head"), repeats=False)
    wide.columns.name = None
    wide["source"] = "export"
    return wide


def _ids(*columns: pd.Series) -> tuple[pd.Index, list[np.ndarray]]:
    """The distinct ids of one or more id columns, sorted (kept as Python objects), and each
    column's codes into them (-1: missing). Rows come in runs of one id (a message's scores or
    labels together), so only the first id of each run is hashed; the ids are sorted once."""
    values = np.concatenate([c.to_numpy(dtype=object, na_value=None) for c in columns])
    starts = np.flatnonzero(np.r_[values.size > 0, values[1:] != values[:-1]])
    run_codes, uniques = pd.factorize(values[starts])
    order = np.array(sorted(range(len(uniques)), key=uniques.__getitem__), dtype=np.intp)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    known = run_codes >= 0
    run_codes[known] = rank[run_codes[known]]
    codes = np.repeat(run_codes, np.diff(np.r_[starts, values.size]))
    splits = np.cumsum([len(c) for c in columns])[:-1]
    return pd.Index(uniques[order], dtype=object, name="item"), np.split(codes, splits)


def _wide(
    rows: np.ndarray, cols: np.ndarray, values: pd.Series, items: pd.Index, names: pd.Index, *, repeats: bool
) -> pd.DataFrame:
    """A long table given as codes (each row's item in ``items``, its column in ``names``) and
    values, as one row per item and one column per name: each cell the mean of its non-missing
    values (NaN if none). A pivot on codes, which builds no index per row. ``repeats=False``: an
    (item, name) pair given twice is an error, as for ``DataFrame.pivot``."""
    keep = (rows >= 0) & (cols >= 0)
    cell = rows[keep] * len(names) + cols[keep]
    size = len(items) * len(names)
    if not repeats and (repeated := np.flatnonzero(np.bincount(cell, minlength=size) > 1)).size:
        item, name = divmod(int(repeated[0]), len(names))  # the first in (item, name) order
        raise OasstQualityError(
            f"message {items[item]!r} has two {values.name}s for the same {names.name} ({names[name]!r}): "
            "one is expected"
        )
    value = values.to_numpy(dtype=float, na_value=np.nan)[keep]
    present = ~np.isnan(value)
    total = np.bincount(cell, weights=np.where(present, value, 0.0), minlength=size)
    with np.errstate(invalid="ignore"):  # no value: 0 / 0
        mean = total / np.bincount(cell, weights=present, minlength=size)
    return pd.DataFrame(mean.reshape(len(items), len(names)), index=items, columns=names)


def _weighted_spearman(ranks_x: np.ndarray, ranks_y: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Pearson correlation of fixed ranks under resampling weights f (B x n)."""
    w = f / f.sum(axis=1, keepdims=True)
    mx, my = w @ ranks_x, w @ ranks_y
    cov = w @ (ranks_x * ranks_y) - mx * my
    vx, vy = w @ ranks_x**2 - mx**2, w @ ranks_y**2 - my**2
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt(vx * vy)


def _weighted_auc(score: np.ndarray, positive: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC under resampling weights f (B x n); ties count one half."""
    order = np.argsort(score, kind="stable")
    s, pos, f = score[order], positive[order], f[:, order]
    _, first, counts = np.unique(s, return_index=True, return_counts=True)
    group = np.repeat(np.arange(first.size), counts)
    neg_by_score = np.add.reduceat(f * ~pos, first, axis=1)  # B x distinct scores
    below = np.cumsum(neg_by_score, axis=1) - neg_by_score  # negatives with a strictly lower score
    wins = ((below[:, group] + 0.5 * neg_by_score[:, group]) * (f * pos)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return wins / ((f * pos).sum(axis=1) * neg_by_score.sum(axis=1))


def _analytic_spearman(x: np.ndarray, y: np.ndarray, confidence: float) -> Estimate:
    """Spearman's rho with a Fisher-z interval (Bonett & Wright 2000 standard error)."""
    n = x.size
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise NotComputableError(_CONSTANT)
    rho = stats.spearmanr(x, y).statistic
    z = stats.norm.ppf(0.5 + confidence / 2)
    se = np.sqrt((1 + rho**2 / 2) / (n - 3))
    method = "Fisher z, Bonett-Wright standard error"
    if abs(rho) == 1:
        return _without_interval(
            float(rho), confidence, n, method, "a perfect rank correlation: Fisher's z is infinite"
        )
    low, high = float(np.tanh(np.arctanh(rho) - z * se)), float(np.tanh(np.arctanh(rho) + z * se))
    return Estimate(float(rho), low, high, confidence, n, method)


def _analytic_auc(x: np.ndarray, positive: np.ndarray, confidence: float) -> Estimate:
    """ROC-AUC of the scores against the positive messages, with DeLong's interval."""
    n_p, n_n = positive.sum(), (~positive).sum()
    if not (n_p and n_n):
        raise NotComputableError(_ONE_SIDED)
    if n_p < 2 or n_n < 2:
        raise NotComputableError("one message on one side of the threshold: DeLong's interval is undefined")
    z = stats.norm.ppf(0.5 + confidence / 2)
    # the ranks of x, and of x within each side, from one sort
    order = np.argsort(x, kind="stable")
    ranks, within = np.empty(x.size), np.empty(x.size)
    ranks[order] = _average_ranks(x[order])
    for side in (positive[order], ~positive[order]):
        within[order[side]] = _average_ranks(x[order[side]])
    auc = (ranks[positive].sum() - n_p * (n_p + 1) / 2) / (n_p * n_n)
    v10 = (ranks[positive] - within[positive]) / n_n  # per positive: share of negatives below
    v01 = 1 - (ranks[~positive] - within[~positive]) / n_p  # per negative: share of positives above
    se_auc = np.sqrt(v10.var(ddof=1) / n_p + v01.var(ddof=1) / n_n)
    if se_auc == 0:  # perfect separation (or its reverse)
        return _without_interval(
            float(auc), confidence, x.size, "DeLong", "perfect separation: DeLong's standard error is 0"
        )
    return Estimate(float(auc), float(auc - z * se_auc), float(auc + z * se_auc), confidence, x.size, "DeLong")


def _without_interval(estimate: float, confidence: float, n: int, method: str, reason: str) -> Estimate:
    """An analytic estimate whose interval the data cannot give (a zero-width one would claim a
    certainty it does not have)."""
    return Estimate(estimate, None, None, confidence, n, method, {"no_interval": reason})


def _average_ranks(ascending: np.ndarray) -> np.ndarray:
    """1-based ranks of a sorted array, ties sharing the mean of their positions (``rankdata``'s
    default; halves of whole numbers, so exact)."""
    first = np.flatnonzero(np.r_[True, ascending[1:] != ascending[:-1]])
    counts = np.diff(np.r_[first, ascending.size])
    return np.repeat(first + (counts + 1) / 2, counts)


def _bootstrapped(estimate: float, samples: np.ndarray, confidence: float, n: int, undefined: str) -> Estimate:
    """The estimate with the percentile interval of its resamples; ``undefined``: why, when it is NaN."""
    if np.isnan(estimate):
        raise NotComputableError(undefined)
    method = "percentile bootstrap over messages"
    return bootstrap_estimate(estimate, samples, confidence, n, method, units=n, unit="message")


def _attempt(reasons: list[str], compute: Callable[..., Estimate], *args) -> Estimate | None:
    """``compute(*args)``, or None with the reason it could not be computed added to ``reasons``."""
    try:
        return compute(*args)
    except NotComputableError as exc:
        reasons.append(str(exc))
        return None


def comparison_tables(dataset, scores: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(model scores, human label means) of the messages that have both, one row per message in
    the same order (sorted by id): everything the comparisons below read, from a Dataset or its
    :class:`~oasst_quality.adapter.Tables` (the scores and labels tables). Tables of partitions
    concatenate (the Dask engine does that) and stay aligned."""
    # only the labels some head is compared with: the full table is millions of rows at OASST scale
    wanted = sorted({label for labels in HEAD_LABELS.values() for label in labels})
    positions = {name: adapter.label_positions(dataset, name) for name in wanted}
    positions = {name: rows for name, rows in positions.items() if len(rows)}
    picked = np.concatenate([np.array([], dtype=np.intp), *positions.values()])
    names = pd.Index(list(positions), dtype=object, name="label")
    label_cols = np.repeat(np.arange(len(positions)), [len(rows) for rows in positions.values()])
    table = adapter.labels(dataset)
    values = table["value"].iloc[picked]
    # a message's rows come together in the full tables: their ids are hashed once per message
    if scores is None:  # the export's own: one id axis for both tables, so they align by position
        long = adapter.scores(dataset)
        items, (score_rows, label_rows) = _ids(long["item"], table["item"])
        scores = _scores_table(long, score_rows, items)
        human = _human(_wide(label_rows[picked], label_cols, values, items, names, repeats=True))
        both = (np.bincount(score_rows[score_rows >= 0], minlength=len(items)) > 0) & _any_value(human)
        scores = scores[both]
        return scores, human[both].set_axis(scores.index)  # one index object: aligning them again is free
    items, (label_rows,) = _ids(table["item"])
    human = _human(_wide(label_rows[picked], label_cols, values, items, names, repeats=True))
    human = human[_any_value(human)]
    common = scores.index.intersection(human.index).sort_values()  # aligned once: comparisons are over messages in both
    return scores.reindex(common), human.reindex(common)


def _human(human: pd.DataFrame) -> pd.DataFrame:
    """The human means without the labels no message has a value of."""
    return human.loc[:, human.notna().any().to_numpy()]


def _any_value(table: pd.DataFrame) -> np.ndarray:
    return table.notna().any(axis=1).to_numpy()


def agreement_with_labels(
    dataset,
    *,
    scores: pd.DataFrame | None = None,
    threshold: float = 0.5,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    by_language: bool = False,
    min_messages: int = 30,
    chunk: int = 50,
    max_bootstrap: int = 20_000,
) -> pd.DataFrame:
    """Agreement of each Detoxify head with the matching human labels.

    For each (head, label) pair over the messages that have both: ``spearman`` (rank correlation
    of score and human mean) and ``auc`` (ROC-AUC of the score against the human label
    thresholded at ``threshold``: for a flag, a majority saying yes), each with a bootstrap
    interval over messages (above ``max_bootstrap`` messages, where a resample costs a pass over
    every message and the intervals are narrow anyway, analytic intervals instead: Fisher z with
    the Bonett-Wright standard error for Spearman, DeLong's for the AUC; ``interval`` says which);
    ``n`` and ``n_positive``. ``scores`` defaults to the export's own
    (:func:`export_scores`); pass :func:`score_texts` output to judge a model you ran.
    ``by_language=True`` adds a row per language with at least ``min_messages`` messages.
    """
    langs = adapter.messages(dataset).set_index("item")["lang"] if by_language else None
    return agreement_from_tables(
        *comparison_tables(dataset, scores),
        langs=langs,
        threshold=threshold,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        min_messages=min_messages,
        chunk=chunk,
        max_bootstrap=max_bootstrap,
    )


def agreement_from_tables(
    scores: pd.DataFrame,
    human: pd.DataFrame,
    *,
    langs: pd.Series | None = None,
    threshold: float = 0.5,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_messages: int = 30,
    chunk: int = 50,
    max_bootstrap: int = 20_000,
) -> pd.DataFrame:
    """:func:`agreement_with_labels` from :func:`comparison_tables`; ``langs`` (language per message
    id) adds the rows per language."""
    by_language = langs is not None
    rng = np.random.default_rng(seed)
    if scores.index.equals(human.index) and scores.index.is_unique:  # aligned already (comparison_tables'): no copies
        common, s_all, h_all = scores.index, scores, human
    else:  # aligned once, not per (head, label) pair (an id given twice raises, as reindex does)
        common = scores.index.intersection(human.index)
        s_all, h_all = scores.reindex(common), human.reindex(common)
    rows = []
    for head, labels in HEAD_LABELS.items():
        if head not in scores.columns:
            continue
        for label in labels:
            if label not in human.columns:
                continue
            x_all = s_all[head].to_numpy(dtype=float, na_value=np.nan)
            y_all = h_all[label].to_numpy(dtype=float, na_value=np.nan)
            keep = ~(np.isnan(x_all) | np.isnan(y_all))
            both = pd.DataFrame({"score": x_all[keep], "human": y_all[keep]}, index=common[keep])
            groups = [("all", both)]
            if by_language:
                lang = langs.reindex(both.index)
                groups += [(str(k), g) for k, g in both.groupby(lang) if len(g) >= min_messages]
            for lang_name, g in groups:
                if len(g) < 3:
                    continue
                x, y = g["score"].to_numpy(), g["human"].to_numpy()
                positive = y >= threshold
                reasons: list[str] = []
                if len(g) > max_bootstrap:
                    auc = _attempt(reasons, _analytic_auc, x, positive, confidence)
                    rho = _attempt(reasons, _analytic_spearman, x, y, confidence)
                    rows.append(_row(head, label, lang_name, g, positive, rho, auc, reasons, "analytic", scores))
                    continue
                rx, ry = rankdata(x), rankdata(y)
                has_both = positive.any() and (~positive).any()
                rho_s, auc_s = np.empty(n_resamples), np.empty(n_resamples)
                for start in range(0, n_resamples, chunk):  # bounded memory: chunk x messages weights
                    size = min(chunk, n_resamples - start)
                    draws = rng.integers(0, len(g), (size, len(g))) + (np.arange(size) * len(g))[:, None]
                    f = np.bincount(draws.ravel(), minlength=size * len(g)).reshape(size, len(g)).astype(float)
                    rho_s[start : start + size] = _weighted_spearman(rx, ry, f)
                    auc_s[start : start + size] = _weighted_auc(x, positive, f) if has_both else np.nan
                ones = np.ones((1, len(g)))
                if not has_both:
                    reasons.append(_ONE_SIDED)
                    auc = None
                else:
                    auc_0 = _weighted_auc(x, positive, ones)[0]
                    auc = _attempt(reasons, _bootstrapped, auc_0, auc_s, confidence, len(g), _ONE_SIDED)
                rho_0 = _weighted_spearman(rx, ry, ones)[0]
                rho = _attempt(reasons, _bootstrapped, rho_0, rho_s, confidence, len(g), _CONSTANT)
                rows.append(_row(head, label, lang_name, g, positive, rho, auc, reasons, "bootstrap", scores))
    return pd.DataFrame(rows)


def _row(head, label, lang, g, positive, rho: Estimate | None, auc: Estimate | None, reasons, interval, scores) -> dict:
    """One table row; a statistic that could not be computed is empty there and its reason is given,
    and one without an interval says why in ``spearman_no_interval`` or ``auc_no_interval``."""
    nan = float("nan")
    return {
        "head": head,
        "label": label,
        "lang": lang,
        "n": len(g),
        "n_positive": int(positive.sum()),
        "spearman": rho.estimate if rho else nan,
        "spearman_low": rho.low if rho else nan,
        "spearman_high": rho.high if rho else nan,
        "auc": auc.estimate if auc else nan,
        "auc_low": auc.low if auc else nan,
        "auc_high": auc.high if auc else nan,
        "interval": interval,
        "source": scores["source"].iloc[0] if "source" in scores else "given",
        "computable": not reasons,
        "reason": "; ".join(reasons),
        **no_interval_field(rho, "spearman"),
        **no_interval_field(auc, "auc"),
    }


_ONE_SIDED = "every message is on one side of the threshold: ROC-AUC is undefined"
_CONSTANT = "the scores or the human means do not vary: Spearman is undefined"


def calibration(
    dataset,
    *,
    head: str = "toxicity",
    label: str = "toxicity",
    bins: int = 10,
    scores: pd.DataFrame | None = None,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Model score against human judgement in quantile bins of the score: mean score, mean human
    value, and the share of messages the humans label positive (mean >= ``threshold``)."""
    tables = comparison_tables(dataset, scores)
    return calibration_from_tables(*tables, head=head, label=label, bins=bins, threshold=threshold)


def _paired(scores: pd.DataFrame, human: pd.DataFrame, head: str, label: str) -> pd.DataFrame:
    """One head's ``score`` and one label's ``human`` mean side by side, over the messages that have both."""
    if scores.index.equals(human.index) and scores.index.is_unique:  # aligned already (comparison_tables')
        both = pd.DataFrame({"score": scores[head].to_numpy(), "human": human[label].to_numpy()}, index=scores.index)
    else:
        both = pd.concat([scores[head].rename("score"), human[label].rename("human")], axis=1, join="inner")
    return both.dropna()


def calibration_from_tables(
    scores: pd.DataFrame,
    human: pd.DataFrame,
    *,
    head: str = "toxicity",
    label: str = "toxicity",
    bins: int = 10,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """:func:`calibration` from :func:`comparison_tables`."""
    both = _paired(scores, human, head, label)
    both["bin"] = pd.qcut(both["score"].rank(method="first"), q=min(bins, len(both)), labels=False)
    g = both.groupby("bin")
    return pd.DataFrame(
        {
            "n": g.size(),
            "score_low": g["score"].min(),
            "score_high": g["score"].max(),
            "mean_score": g["score"].mean(),
            "mean_human": g["human"].mean(),
            "human_positive_share": g["human"].apply(lambda v: (v >= threshold).mean()),
        }
    ).reset_index(drop=True)


def disagreements(
    dataset, *, head: str = "toxicity", label: str = "toxicity", k: int = 10, scores: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The messages where model and humans disagree most: largest gap between score rank and human rank."""
    top = largest_gaps(*comparison_tables(dataset, scores), head=head, label=label, k=k)
    texts = adapter.messages(dataset).set_index("item")[["lang", "text"]]
    return top.join(texts).reset_index(names="item")


def largest_gaps(
    scores: pd.DataFrame, human: pd.DataFrame, *, head: str = "toxicity", label: str = "toxicity", k: int = 10
) -> pd.DataFrame:
    """:func:`disagreements` from :func:`comparison_tables`, without the texts (ties by message id)."""
    both = pd.concat([scores[head].rename("score"), human[label].rename("human")], axis=1, join="inner").dropna()
    gap = both["score"].rank(pct=True) - both["human"].rank(pct=True)
    both["gap"] = gap
    both["direction"] = np.where(gap > 0, "model higher", "humans higher")
    return both.reindex(gap.abs().sort_values(ascending=False, kind="stable").index[:k])
