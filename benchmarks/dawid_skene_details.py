"""The Dawid-Skene details behind docs/aggregation.md.

1. The pseudo-count: accuracy against gold, and, without gold, the log-likelihood of held-out
   ratings (20 % of ratings hidden, seed 0), for pseudo-counts 0 to 1.
2. Why crowd-kit's Dawid-Skene stops after 2 iterations on AdultContent2: its convergence objective
   adds the log class prior once per rating instead of once per item, so it falls while the
   evidence lower bound (ELBO) of the same iterates rises. Run to convergence, its accuracy.
3. Iterations and seconds, ours against crowd-kit's, on the two big ordinal sets.
4. The ordinal model's fitted prior (strength s, decay ρ) and held-out log-likelihood.
5. AdultContent2's near-constant workers, which MACE's spam strategy models.

    python benchmarks/dawid_skene_details.py
"""

from __future__ import annotations

import time
import warnings

import crowd_data
import numpy as np
import pandas as pd
from crowdkit.aggregation import DawidSkene as CkDawidSkene

from oasst_quality import aggregation as agg

SMOOTHING = (0.0, 1e-3, 0.01, 0.1, 1.0)
ORDINAL = ("AdultContent2 (GAL)", "TREC RF10 relevance")


def accuracy(labels: pd.Series, gold: pd.Series) -> float:
    g = gold.reindex(labels.index).dropna()
    return float((labels[g.index] == g).mean())


def held_out_loglik(model: agg.DawidSkene, df: pd.DataFrame, seed: int = 0) -> float:
    """Mean log P(label) of the hidden ratings under a model fitted to the rest."""
    hide = np.random.default_rng(seed).random(len(df)) < 0.2
    fitted = model.fit(df[~hide])
    test = df[hide]
    a = fitted.annotator_reliability_.index.get_indexer(test["annotator"])
    i = fitted.probas_.index.get_indexer(test["item"])
    ok = (a >= 0) & (i >= 0)  # a rating of an unseen annotator or item has nothing to predict it
    label = np.searchsorted(fitted.classes_, test["value"].to_numpy())[ok]
    p = (fitted.probas_.to_numpy()[i[ok]] * fitted.confusions_[a[ok], :, label]).sum(axis=1)
    return float(np.log(p).mean())


def elbo(df: pd.DataFrame, model: CkDawidSkene) -> float:
    """ELBO per rating of a fitted crowd-kit model, with the log prior counted once per item."""
    q = model.probas_
    log_err = np.log(model.errors_.reindex(pd.MultiIndex.from_frame(df[["worker", "label"]]))[q.columns].to_numpy())
    per_item = pd.DataFrame(log_err, index=df["task"].to_numpy(), columns=q.columns).groupby(level=0).sum()
    joint = (q * (per_item.loc[q.index] + np.log(model.priors_[q.columns]))).to_numpy().sum()
    entropy = -(q * np.log(q.clip(lower=1e-300))).to_numpy().sum()
    return float((joint + entropy) / len(df))


def main() -> None:
    warnings.filterwarnings("ignore")
    print("1. set | accuracy; held-out log-likelihood per rating, for pseudo-counts " + ", ".join(map(str, SMOOTHING)))
    for name, (_, scale) in crowd_data.SETS.items():
        if scale == "interval":
            continue
        df, gold, _ = crowd_data.load(name)
        accs = [accuracy(agg.DawidSkene(smoothing=s).fit_predict(df), gold) for s in SMOOTHING]
        lls = [held_out_loglik(agg.DawidSkene(smoothing=s), df) for s in SMOOTHING]
        print(f"{name} | " + " ".join(f"{a:.4f}" for a in accs) + " | " + " ".join(f"{v:.4f}" for v in lls))

    print("\n2. AdultContent2, crowd-kit 1.4.2: iteration | its objective | the ELBO")
    df, gold, _ = crowd_data.load("AdultContent2 (GAL)")
    ck = df.rename(columns={"item": "task", "annotator": "worker", "value": "label"})
    for t in range(1, 6):
        model = CkDawidSkene(n_iter=t, tol=-np.inf).fit(ck)
        print(f"{t} | {model.loss_history_[-1]:.4f} | {elbo(ck, model):.4f}")
    default = CkDawidSkene(n_iter=100).fit(ck)
    converged = CkDawidSkene(n_iter=100, tol=-np.inf).fit(ck)
    print(
        f"default: stops after {len(default.loss_history_)} iterations, "
        f"accuracy {accuracy(default.labels_, gold):.4f}; 100 iterations: {accuracy(converged.labels_, gold):.4f}"
    )

    print("\n3. set | ours: iterations, s | crowd-kit: iterations, s")
    for name in ORDINAL:
        df, _, _ = crowd_data.load(name)
        t = time.perf_counter()
        ours = agg.DawidSkene().fit(df)
        t_ours = time.perf_counter() - t
        ck = df.rename(columns={"item": "task", "annotator": "worker", "value": "label"})
        t = time.perf_counter()
        theirs = CkDawidSkene(n_iter=100).fit(ck)
        t_ck = time.perf_counter() - t
        print(f"{name} | {ours.n_iter_}, {t_ours:.3f} | {len(theirs.loss_history_)}, {t_ck:.3f}")

    print("\n4. set | ordinal prior s, ρ | held-out log-likelihood: DS, ordinal")
    for name in ORDINAL:
        df, _, _ = crowd_data.load(name)
        ordinal = agg.OrdinalDawidSkene().fit(df)
        ll_ds = held_out_loglik(agg.DawidSkene(), df)
        ll_ord = held_out_loglik(agg.OrdinalDawidSkene(), df)
        print(f"{name} | {ordinal.prior_strength_:.2f}, {ordinal.prior_decay_:.3f} | {ll_ds:.4f}, {ll_ord:.4f}")

    df, _, _ = crowd_data.load("AdultContent2 (GAL)")
    per_worker = df.groupby("annotator")["value"].agg(n="size", g_share=lambda v: (v == 0).mean())
    always_g = per_worker[(per_worker["n"] >= 10) & (per_worker["g_share"] >= 0.95)]
    flagged = int(agg.flag_annotators(df)["flagged"].sum())
    print(
        f"\n5. AdultContent2: {len(always_g)} workers with >= 10 ratings answer G >= 95 % of the time "
        f"({always_g['n'].sum()} of {len(df)} ratings); flag_annotators flags {flagged} of {len(per_worker)}"
    )


if __name__ == "__main__":
    main()
