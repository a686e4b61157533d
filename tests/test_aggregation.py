import numpy as np
import pandas as pd
import pytest
from scipy import stats

from oasst_quality import aggregation as agg


def table(rows):
    return pd.DataFrame(rows, columns=["item", "annotator", "value"])


SMALL = table(
    [
        ("i1", "a", 1),
        ("i1", "b", 1),
        ("i1", "c", 0),
        ("i2", "a", 0),
        ("i2", "b", 0),
        ("i2", "c", 0),
        ("i3", "a", 1),
        ("i3", "b", 0),
        ("i3", "c", 1),
        ("i3", "d", 1),
    ]
)


def test_by_hand():
    assert agg.MajorityVote().fit_predict(SMALL).to_dict() == {"i1": 1, "i2": 0, "i3": 1}
    assert agg.Mean().fit_predict(SMALL).to_dict() == pytest.approx({"i1": 2 / 3, "i2": 0, "i3": 0.75})
    assert agg.Median().fit_predict(SMALL).to_dict() == {"i1": 1, "i2": 0, "i3": 1}
    mv = agg.MajorityVote().fit(SMALL)
    # a agrees 3/3, b 2/3 (i3), c 2/3 (i1), d 1/1
    assert mv.annotator_reliability_.to_dict() == pytest.approx({"a": 1, "b": 2 / 3, "c": 2 / 3, "d": 1})
    assert mv.probas_.loc["i3", 1] == pytest.approx(0.75)


def test_numeric_aggregates_equal_pandas_and_scipy():
    rng = np.random.default_rng(1)
    df = table([(f"i{i % 40}", f"a{rng.integers(0, 9)}", float(rng.normal())) for i in range(400)])
    grouped = df.groupby("item")["value"]
    pd.testing.assert_series_equal(agg.Mean().fit_predict(df), grouped.mean(), check_names=False)
    pd.testing.assert_series_equal(agg.Median().fit_predict(df), grouped.median(), check_names=False)
    trimmed = grouped.apply(lambda v: stats.trim_mean(v, 0.2))
    pd.testing.assert_series_equal(agg.TrimmedMean(0.2).fit_predict(df), trimmed, check_names=False)


def test_zscore_removes_annotator_offsets():
    rng = np.random.default_rng(2)
    truth = rng.normal(size=50)
    rows = [
        (i, a, truth[i] * scale + offset)
        for i in range(50)
        for a, scale, offset in (("lenient", 1.0, 3.0), ("harsh", 1.0, -3.0), ("wide", 4.0, 0.0))
    ]
    z = agg.ZScoreMean().fit_predict(table(rows))
    assert np.corrcoef(z, truth)[0, 1] > 0.999


def _simulate(n_items=600, confusions=None, per_item=5, seed=0):
    rng = np.random.default_rng(seed)
    K = confusions.shape[1]
    truth = rng.integers(0, K, n_items)
    rows = []
    for i in range(n_items):
        for a in rng.choice(len(confusions), per_item, replace=False):
            rows.append((i, a, rng.choice(K, p=confusions[a, truth[i]])))
    return table(rows), truth


def test_dawid_skene_recovers_planted_confusions():
    good = np.array([[0.9, 0.05, 0.05], [0.1, 0.85, 0.05], [0.05, 0.1, 0.85]])
    biased = np.array([[0.6, 0.4, 0.0], [0.0, 0.6, 0.4], [0.4, 0.0, 0.6]])
    spam = np.full((3, 3), 1 / 3)
    confusions = np.array([good] * 6 + [biased] * 3 + [spam] * 3)
    df, truth = _simulate(confusions=confusions, n_items=1500, per_item=6)
    ds = agg.DawidSkene().fit(df)
    est = ds.confusions_
    assert np.abs(est - confusions).max() < 0.12
    assert (ds.labels_.sort_index().to_numpy() == truth).mean() > 0.93
    mv = agg.MajorityVote().fit_predict(df)
    assert (ds.labels_ == mv).mean() < 1  # it actually reweighs
    assert ds.annotator_reliability_.iloc[:6].min() > ds.annotator_reliability_.iloc[9:].max()


def test_mace_flags_spammers():
    good = np.array([[0.95, 0.05], [0.05, 0.95]])
    always_zero = np.array([[1.0, 0.0], [1.0, 0.0]])
    confusions = np.array([good] * 8 + [always_zero] * 2)
    df, _ = _simulate(confusions=confusions, n_items=500, per_item=4)
    flags = agg.flag_annotators(df)
    assert set(flags.index[flags["flagged"]]) == {8, 9}
    assert flags.loc[8, "top_label_share"] == 1.0


def test_ordinal_model_on_planted_ordinal_noise():
    K = 5
    x = np.arange(K)
    near = np.exp(-((x[None, :] - x[:, None]) ** 2) / (2 * 0.7**2))
    near /= near.sum(axis=1, keepdims=True)
    confusions = np.array([near] * 30)  # sparse annotators: ~80 ratings each for 25 DS rates
    df, truth = _simulate(confusions=confusions, n_items=800, per_item=3, seed=4)
    od = agg.OrdinalDawidSkene().fit(df)
    mae = np.abs(od.labels_.sort_index().to_numpy() - truth).mean()
    ds_mae = np.abs(agg.DawidSkene().fit_predict(df).sort_index().to_numpy() - truth).mean()
    assert mae < ds_mae - 0.05  # measured 0.221 vs 0.353
    assert np.allclose(od.probas_.sum(axis=1), 1)
    assert od.annotator_bias_.abs().max() < 0.3  # the planted errors are symmetric
    cdf = od.probas_.cumsum(axis=1).to_numpy()
    assert (od.labels_.to_numpy() == od.classes_[(cdf >= 0.5).argmax(axis=1)]).all()  # posterior medians


def test_ordinal_prior_recovers_planted_strength_and_decay():
    # expected counts drawn from the model itself: rows ~ Dirichlet(s G(. | k)), then multinomial
    rng = np.random.default_rng(0)
    K, s, decay = 4, 3.0, 0.3
    g = agg._ordinal_kernel(K, decay)
    assert np.allclose(g.sum(axis=0), 1) and (np.diff(g[:, 0]) < 0).all()
    rows = np.stack([rng.dirichlet(s * g[:, k], size=3000) for k in range(K)], axis=2)  # [a, l, k]
    counts = np.stack([[rng.multinomial(12, rows[a, :, k]) for k in range(K)] for a in range(3000)], axis=0)
    model = agg.OrdinalDawidSkene()
    model._hyper = np.array([np.log(K), 0.0])
    model._pseudo_counts(counts.transpose(0, 2, 1).astype(float))
    assert np.exp(model._hyper[0]) == pytest.approx(s, rel=0.1)
    assert 1 / (1 + np.exp(-model._hyper[1])) == pytest.approx(decay, abs=0.03)


@pytest.mark.filterwarnings("ignore:The (copy|inplace) keyword")
def test_dawid_skene_equals_crowdkit_at_equal_iterations():
    # without pseudo-counts, and with crowd-kit's early stop switched off, both run the same EM
    from crowdkit.aggregation import DawidSkene as CkDawidSkene

    good = np.array([[0.85, 0.1, 0.05], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])
    confusions = np.array([good] * 5 + [np.full((3, 3), 1 / 3)] * 2)
    df, _ = _simulate(confusions=confusions, n_items=300, per_item=3, seed=5)
    ck = df.rename(columns={"item": "task", "annotator": "worker", "value": "label"})
    for n_iter, tol in ((15, -np.inf), (100, 1e-5)):  # and with both early stops: the same stopping rule
        ours = agg.DawidSkene(smoothing=0.0, diagonal=0.0, n_iter=n_iter, tol=tol).fit(df)
        theirs = CkDawidSkene(n_iter=n_iter, tol=tol).fit(ck)
        assert ours.n_iter_ == len(theirs.loss_history_)
        got = ours.probas_.to_numpy()
        want = theirs.probas_.reindex(index=ours.probas_.index, columns=ours.classes_).to_numpy()
        assert np.abs(got - want).max() < 1e-9


@pytest.mark.parametrize(
    "cls",
    [
        agg.MajorityVote,
        agg.DawidSkene,
        agg.MACE,
        agg.OrdinalDawidSkene,
        agg.Mean,
        agg.ZScoreMean,
        agg.TrimmedMean,
        agg.Median,
    ],
)
def test_invariant_to_renaming_and_seeded(cls):
    confusions = np.array([[[0.8, 0.2], [0.3, 0.7]]] * 6)
    df, _ = _simulate(confusions=confusions, n_items=200, per_item=3, seed=7)
    base = cls(seed=3).fit_predict(df)
    again = cls(seed=3).fit_predict(df)
    pd.testing.assert_series_equal(base, again)
    renamed = df.assign(item="x" + df["item"].astype(str), annotator=df["annotator"].map(lambda a: f"w{9 - a}"))
    renamed = renamed.sample(frac=1, random_state=0)  # row order must not matter either
    other = cls(seed=3).fit_predict(renamed)
    other.index = other.index.str[1:].astype(int)
    pd.testing.assert_series_equal(base.sort_index(), other.sort_index(), check_names=False, atol=1e-8)


def test_column_names_by_keyword():
    ck = SMALL.rename(columns={"item": "task", "annotator": "worker", "value": "label"})
    got = agg.DawidSkene(item="task", annotator="worker", value="label").fit_predict(ck)
    assert got.index.tolist() == ["i1", "i2", "i3"]


def test_beta_binomial_shrinkage():
    rows = [(f"m{i}", f"a{j}", int(j < k)) for i, k in enumerate([0, 0, 1, 3, 5]) for j in range(5)]
    rows.append(("single", "a0", 1))
    df = table(rows)
    model = agg.BayesianShrinkage("flag").fit(df)
    a, b = model.prior_
    est = model.labels_
    assert est["single"] == pytest.approx((a + 1) / (a + b + 1))
    assert est["m4"] == pytest.approx((a + 5) / (a + b + 5))
    width = model.intervals_["high"] - model.intervals_["low"]
    assert width["single"] > width["m4"]


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (agg.DawidSkene(smoothing=-0.1), "smoothing must lie in"),
        (agg.DawidSkene(n_iter=0), "n_iter must lie in"),
        (agg.MACE(smoothing=0.0), "smoothing must lie in"),
        (agg.TrimmedMean(0.5), "proportion must lie in"),
        (agg.BayesianShrinkage("flag", confidence=1.0), "confidence must lie in"),
        (agg.BayesianShrinkage("stars"), "kind must be 'flag' or 'likert'"),
        (agg.BayesianShrinkage("flag"), "column 'value' must be 0 or 1; 1 values are not"),
        (agg.BayesianShrinkage("likert"), r"must be within \[0.0, 1.0\]"),
    ],
)
def test_bad_settings_and_values_are_named(model, message):
    df = SMALL.assign(value=SMALL["value"].where(SMALL.index != 0, 2))
    with pytest.raises(ValueError, match=message):
        model.fit(df)


def _crowd_with_constant_annotators(seed: int):
    """5-point scale, 10 annotators, 3 ratings per item; 3 annotators always give one fixed label."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from ordinal_collapse import crowd

    return crowd(seed)


def test_ordinal_model_keeps_every_scale_point_with_constant_annotators():
    # Without the class-proportion prior, 19 of 20 such crowds emptied a scale point.
    mae = {"ordinal": [], "ds": []}
    for seed in range(10):
        df, truth = _crowd_with_constant_annotators(seed)
        ordinal = agg.OrdinalDawidSkene().fit(df)
        assert (ordinal.priors_.to_numpy() > 0.02).all(), (seed, ordinal.priors_.round(3).tolist())
        assert set(ordinal.labels_) == set(range(5)), seed  # every point can still be predicted
        for name, model in (("ordinal", ordinal), ("ds", agg.DawidSkene().fit(df))):
            mae[name].append(np.abs(model.labels_.sort_index().to_numpy() - truth).mean())
    assert np.mean(mae["ordinal"]) < np.mean(mae["ds"])
    # the prior is what keeps them: switched off, the collapse comes back
    df, _ = _crowd_with_constant_annotators(0)
    assert (agg.OrdinalDawidSkene(class_smoothing=0).fit(df).priors_.to_numpy() < 0.01).any()


# ---------------------------------------------------------------- the EM loops' bits, whatever their layout


def _normalize_log_ll(logp: np.ndarray) -> tuple[np.ndarray, float]:
    """The EM loops' normalization as it ran before it went class-major in place: row-normalized
    probabilities from log-weights (items x classes), and the summed log normalizers."""
    lt = np.ascontiguousarray(logp.T)
    top = lt.max(axis=0)
    p = np.exp(lt - top)
    total = p.sum(axis=0)
    p /= total
    return p.T, float((np.log(total) + top).sum())


def _mace_whole_table(model: agg.MACE, c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACE's EM as it ran before it went block by block: every sum over the whole table at once.
    (posteriors, θ, ξ)."""
    K, A = c.values.size, c.n_annotators
    rng = np.random.default_rng(model.seed)
    theta = np.full(A, 0.8) + rng.uniform(-0.05, 0.05, A)
    xi = np.full((A, K), 1.0 / K)
    n = np.bincount(c.annotator, minlength=A)
    cell = c.annotator * K + c.code
    label_item = c.code * c.n_items + c.item
    last = -np.inf
    for _ in range(model.n_iter):
        th, x = np.repeat(theta, K), xi.ravel()
        off = (1 - th) * x
        log_off = np.log(off)
        gap = np.log(th + off) - log_off
        log_t = np.bincount(label_item, gap[cell], K * c.n_items).reshape(K, c.n_items) + np.bincount(
            c.item, log_off[cell], c.n_items
        )
        post, ll = _normalize_log_ll(log_t.T)
        ll /= c.item.size
        p_true = post.T.ravel()[label_item]
        spam = (1 - p_true) + p_true * (off / (th + off))[cell]
        theta = (n - np.bincount(c.annotator, spam, A) + model.smoothing) / (n + 2 * model.smoothing)
        xi = np.bincount(cell, spam, A * K).reshape(A, K) + model.smoothing / K
        xi /= xi.sum(axis=1, keepdims=True)
        if ll - last < model.tol:
            break
        last = ll
    return post, theta, xi


def _dawid_skene_whole_table(model: agg.DawidSkene, c) -> tuple[np.ndarray, np.ndarray, int]:
    """Dawid-Skene's EM as it ran before (the M-step's M @ post gathering each row's items, a new
    array for every step): (posteriors, confusions, iterations)."""
    import scipy.sparse as sp

    K, A = c.values.size, c.n_annotators
    if isinstance(model, agg.OrdinalDawidSkene):
        model._hyper = np.array([np.log(K), 0.0])
    m = sp.csr_matrix((np.ones(c.item.size), (c.annotator * K + c.code, c.item)), shape=(A * K, c.n_items))
    m_t = m.T.tocsr()
    per_item = np.bincount(c.item, minlength=c.n_items).astype(float)

    def m_step(post, expected):
        priors = np.maximum((post.sum(axis=0) + model._class_pseudo) / (c.n_items + K * model._class_pseudo), agg._EPS)
        counts = expected.reshape(A, K, K)
        counts = np.maximum(counts + model._pseudo_counts(counts), agg._EPS)
        return priors, counts / counts.sum(axis=1, keepdims=True)

    post = agg._vote_shares(c)
    priors, conf = m_step(post, m @ post)
    log_conf = np.log(conf).reshape(A * K, K)
    last, done = -np.inf, 0
    for it in range(model.n_iter):
        post, ll = _normalize_log_ll(np.log(priors) + m_t @ log_conf)
        expected = m @ post
        priors, conf = m_step(post, expected)
        log_conf = np.log(conf).reshape(A * K, K)
        if model._stop_on_elbo:
            safe = np.maximum(post, agg._EPS)
            elbo = (
                (expected * log_conf).sum() + (per_item @ post) @ np.log(priors) - (post * np.log(safe)).sum()
            ) / c.item.size
        else:
            elbo = ll / c.item.size
        done = it + 1
        if elbo - last < model.tol:
            break
        last = elbo
    return post, conf, done


def _layouts():
    """Coded votes in the orders the blocks see: item by item, rows shuffled, items no vote names,
    one item with more votes than a block, and more classes than numpy sums in order (K > 7)."""
    good = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    df, _ = _simulate(confusions=np.array([good] * 7 + [np.full((3, 3), 1 / 3)] * 2), n_items=300, per_item=4, seed=11)
    c = agg._code(df, "item", "annotator", "value")
    rng = np.random.default_rng(3)
    busy = pd.concat(
        [df, pd.DataFrame({"item": 0, "annotator": rng.integers(0, 9, 60), "value": rng.integers(0, 3, 60)})]
    )
    wide = df.assign(value=rng.integers(0, 9, len(df)))  # 9 classes
    return {
        "item by item": c,
        "shuffled": c.take(rng.permutation(c.item.size)),
        "items without votes": c.take(rng.random(c.item.size) < 0.6),
        "a busy item": agg._code(busy.sample(frac=1, random_state=1), "item", "annotator", "value"),
        "nine classes": agg._code(wide, "item", "annotator", "value"),
        "nine classes, shuffled": agg._code(wide.sample(frac=1, random_state=2), "item", "annotator", "value"),
    }


@pytest.mark.parametrize("layout", list(_layouts()))
def test_mace_block_by_block_is_the_whole_table_fit_to_the_bit(layout):
    c = _layouts()[layout]
    for kw in ({}, {"n_iter": 4, "tol": -np.inf}):
        want_post, want_theta, want_xi = _mace_whole_table(agg.MACE(**kw), c)
        for block in (1, 5, 64, agg._BLOCK):
            model = agg.MACE(**kw)
            model._fit(c, block=block)
            assert np.array_equal(model.probas_.to_numpy(), want_post, equal_nan=True), (layout, kw, block)
            assert np.array_equal(model.annotator_reliability_.to_numpy(), want_theta), (layout, kw, block)
            assert np.array_equal(model.strategies_, want_xi), (layout, kw, block)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # items without votes: 0/0 vote shares, in both
@pytest.mark.parametrize("layout", list(_layouts()))
@pytest.mark.parametrize("cls", [agg.DawidSkene, agg.OrdinalDawidSkene])
def test_dawid_skene_is_its_whole_table_fit_to_the_bit(layout, cls):
    c = _layouts()[layout]
    for kw in ({}, {"n_iter": 4, "tol": -np.inf}):
        want_post, want_conf, want_iter = _dawid_skene_whole_table(cls(**kw), c)
        model = cls(**kw).fit_ratings(c)
        assert model.n_iter_ == want_iter
        if cls is agg.DawidSkene:  # (the ordinal model's probas_ are its own; its confusions tell)
            assert np.array_equal(model.probas_.to_numpy(), want_post, equal_nan=True), (layout, kw)
        assert np.array_equal(model.confusions_, want_conf.transpose(0, 2, 1), equal_nan=True), (layout, kw)


def test_the_item_cells_matrix_is_scipys_count_matrix():
    import scipy.sparse as sp

    c = _layouts()["a busy item"]  # repeated (item, annotator, label) votes among them
    K = c.values.size
    want = sp.csr_matrix((np.ones(c.item.size), (c.annotator * K + c.code, c.item))).T.tocsr()
    got = c.item_cells
    assert got.shape == (c.n_items, c.n_annotators * K) and got.has_sorted_indices
    assert (got.data > 1).any()
    for a in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(got, a), getattr(want, a)), a
