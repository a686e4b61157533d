import re

import numpy as np
import pandas as pd
import pytest
from helpers import tiny_bert
from scipy import stats

import oasst_quality as oq
from oasst_quality import toxicity as tx
from oasst_quality.errors import NotComputableError, OasstQualityError

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

HEADS = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
WORDS = "you are a nice kind terrible awful idiot person day good bad the is".split()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny BERT in Detoxify's checkpoint format, with a local config and tokenizer."""
    folder = tmp_path_factory.mktemp("tiny")
    config_dir = folder / "config"
    config_dir.mkdir()
    tokenizer, config = tiny_bert(config_dir, WORDS, layers=2, num_labels=len(HEADS))
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config).eval()
    checkpoint = folder / "tiny.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        "model_type": "bert-base-uncased",
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(HEADS),
                    }
                },
                "dataset": {"args": {"classes": HEADS}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return model, tokenizer, checkpoint, config_dir


TEXTS = ["you are a nice person", "you are a terrible awful idiot", "good day", "the day is bad bad bad", ""]


def test_offline_scores_equal_the_models_own_sigmoid(tiny, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # any hub access would fail
    model, tokenizer, checkpoint, config_dir = tiny
    got = tx.score_texts(TEXTS, checkpoint=checkpoint, config_dir=config_dir, batch_size=2, device="cpu")
    expected_heads = ["toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"]
    assert list(got.columns[:-1]) == expected_heads and got["source"].str.startswith("checkpoint:").all()
    with torch.no_grad():  # one text at a time: no padding at all
        rows = [torch.sigmoid(model(**tokenizer([t], return_tensors="pt")).logits).numpy()[0] for t in TEXTS]
    # batches are sorted by length and padded; attention masks make padding irrelevant up to float error
    np.testing.assert_allclose(got[expected_heads].to_numpy(), np.stack(rows), rtol=1e-5, atol=1e-6)
    again = tx.score_texts(TEXTS, checkpoint=checkpoint, config_dir=config_dir, batch_size=2, device="cpu")
    pd.testing.assert_frame_equal(got, again)


class _Payload:
    """Writes a marker file when unpickled: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_object_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.ckpt"
    torch.save({"config": {}, "state_dict": {}, "payload": _Payload(marker)}, bad)
    with pytest.raises(tx.CheckpointError, match="refused"):
        tx.load_checkpoint(bad)
    assert not marker.exists()


def test_checkpoint_format_and_class_allowlist(tmp_path, tiny):
    wrong = tmp_path / "wrong.ckpt"
    torch.save({"weights": torch.zeros(2)}, wrong)
    with pytest.raises(tx.CheckpointError, match="not a Detoxify checkpoint"):
        tx.load_checkpoint(wrong)
    odd = tmp_path / "odd.ckpt"
    torch.save(
        {
            "config": {"arch": {"args": {"model_name": "Trainer"}}, "dataset": {"args": {"classes": ["a"]}}},
            "state_dict": {},
        },
        odd,
    )
    with pytest.raises(tx.CheckpointError, match="not one of"):
        tx.load_checkpoint(odd)
    with pytest.raises(ValueError, match="config_dir"):
        tx.score_texts(["x"], checkpoint=tiny[2])


def test_analytic_intervals_match_the_bootstrap():
    ds = oq.load_sample()
    boot = tx.agreement_with_labels(ds, n_resamples=2000, seed=1).set_index(["head", "label"])
    exact = tx.agreement_with_labels(ds, max_bootstrap=0).set_index(["head", "label"])
    assert (exact["interval"] == "analytic").all() and (boot["interval"] == "bootstrap").all()
    pd.testing.assert_series_equal(boot["auc"], exact["auc"], atol=1e-12)
    pd.testing.assert_series_equal(boot["spearman"], exact["spearman"], atol=1e-12)
    main = ("toxicity", "toxicity")
    for stat in ("auc", "spearman"):
        width_b = boot.loc[main, f"{stat}_high"] - boot.loc[main, f"{stat}_low"]
        width_a = exact.loc[main, f"{stat}_high"] - exact.loc[main, f"{stat}_low"]
        assert width_a == pytest.approx(width_b, rel=0.25)


def test_auc_and_spearman_equal_reference_implementations():
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    score = np.round(rng.random(400), 2)
    human = np.clip(score + rng.normal(0, 0.3, 400), 0, 1)
    ones = np.ones((1, 400))
    assert tx._weighted_auc(score, human >= 0.5, ones)[0] == pytest.approx(roc_auc_score(human >= 0.5, score))
    rx, ry = tx.rankdata(score), tx.rankdata(human)
    assert tx._weighted_spearman(rx, ry, ones)[0] == pytest.approx(spearmanr(score, human).statistic)


def test_export_scores_and_tables_on_sample():
    ds = oq.load_sample()
    scores = tx.export_scores(ds)
    assert len(scores) == ds.detoxify["message_id"].nunique() and (scores["source"] == "export").all()
    cal = tx.calibration(ds)
    assert cal["n"].sum() == len(scores.index.intersection(ds.labels.loc[ds.labels.label == "toxicity", "message_id"]))
    worst = tx.disagreements(ds, k=5)
    assert len(worst) == 5 and worst["gap"].abs().is_monotonic_decreasing
    by_lang = tx.agreement_with_labels(ds, n_resamples=50, by_language=True)
    assert set(by_lang["lang"]) == {"all", "en"}


def test_dataset_scores_prefer_export_then_model(tiny):
    ds = oq.load_sample()
    _, _, checkpoint, config_dir = tiny
    export_only = tx.dataset_scores(ds)
    assert (export_only["source"] == "export").all()
    rescored = tx.dataset_scores(
        ds.__class__.from_tables(ds.messages.head(6), labels=ds.labels), checkpoint=checkpoint, config_dir=config_dir
    )
    assert len(rescored) == 6 and rescored["source"].str.startswith("checkpoint:").all()


def test_cli_toxicity_offline_checkpoint(tiny, capsys, tmp_path):
    import json

    from oasst_quality.cli import main

    _, _, checkpoint, config_dir = tiny
    ds = oq.load_sample()
    small = ds.__class__.from_tables(
        ds.messages.head(60), labels=ds.labels[ds.labels.message_id.isin(ds.messages.head(60).message_id)]
    )
    path = oq.write(small, tmp_path / "small.jsonl", form="messages")
    assert (
        main(
            [
                "toxicity",
                str(path),
                "--checkpoint",
                str(checkpoint),
                "--config-dir",
                str(config_dir),
                "--resamples",
                "20",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out["score_sources"]) == {f"checkpoint:{checkpoint}"}
    assert {row["head"] for row in out["agreement"]} >= {"toxicity"}


def test_a_row_that_cannot_give_its_auc_says_why():
    scores = pd.DataFrame({"toxicity": [0.1, 0.2, 0.3, 0.4]}, index=pd.Index(list("abcd"), name="message_id"))
    human = pd.DataFrame({"toxicity": [0.0, 0.25, 0.0, 0.25]}, index=scores.index)  # nobody above 0.5
    row = tx.agreement_from_tables(scores, human, n_resamples=20).iloc[0]
    assert not row["computable"] and "ROC-AUC is undefined" in row["reason"] and np.isnan(row["auc"])
    assert row["spearman"] == pytest.approx(stats.spearmanr([0.1, 0.2, 0.3, 0.4], [0.0, 0.25, 0.0, 0.25]).statistic)


@pytest.mark.parametrize("max_bootstrap", [0, 20_000])
def test_constant_scores_and_a_single_positive_give_reasons_never_nan_estimates(max_bootstrap):
    index = pd.Index([f"m{i}" for i in range(8)], name="message_id")
    scores = pd.DataFrame({"toxicity": [0.5] * 8}, index=index)  # the model gives every message the same
    human = pd.DataFrame({"toxicity": [1.0] + [0.0] * 7}, index=index)  # one message above the threshold
    row = tx.agreement_from_tables(scores, human, n_resamples=20, max_bootstrap=max_bootstrap).iloc[0]
    assert not row["computable"] and "Spearman is undefined" in row["reason"]
    if max_bootstrap == 0:  # DeLong's variance needs two messages on each side
        assert "DeLong's interval is undefined" in row["reason"] and np.isnan(row["auc"])
    else:  # the bootstrap keeps the AUC: the constant score ties the positive with every negative
        assert row["auc"] == pytest.approx(0.5)


def test_analytic_helpers_return_estimates():
    rng = np.random.default_rng(0)
    x, y = rng.random(50), rng.random(50)
    rho = tx._analytic_spearman(x, y, 0.95)
    assert rho.estimate == pytest.approx(stats.spearmanr(x, y).statistic) and rho.low < rho.estimate < rho.high
    auc = tx._analytic_auc(x, y > 0.5, 0.95)
    assert auc.n == 50 and auc.low < auc.estimate < auc.high and auc.method == "DeLong"
    with pytest.raises(NotComputableError, match="ROC-AUC is undefined"):
        tx._analytic_auc(x, np.zeros(50, dtype=bool), 0.95)


def test_comparison_tables_align_the_messages_with_both():
    ds = oq.load_sample()
    scores, human = tx.comparison_tables(ds)
    assert scores.index.equals(human.index) and scores.index.is_monotonic_increasing and scores.index.dtype == object
    both = set(ds.detoxify["message_id"]) & set(ds.labels.loc[ds.labels["label"].isin(human.columns), "message_id"])
    assert set(scores.index) == both
    wide = ds.detoxify.pivot(index="message_id", columns="head", values="score")
    pd.testing.assert_frame_equal(scores[wide.columns], wide.loc[scores.index], check_names=False)
    doubled = oq.Dataset.from_tables(ds.messages, labels=ds.labels, detoxify=pd.concat([ds.detoxify, ds.detoxify[:1]]))
    with pytest.raises(OasstQualityError, match="two scores for the same head"):
        tx.export_scores(doubled)


def test_average_ranks_are_rankdatas():
    x = np.sort(np.round(np.random.default_rng(0).random(500), 2))
    assert np.array_equal(tx._average_ranks(x), stats.rankdata(x))


def test_the_report_says_no_interval_where_detoxify_separates_perfectly():
    from oasst_quality.report import prose

    row = {"head": "toxicity", "label": "toxicity", "n": 4, "n_positive": 2, "spearman": 0.89, "auc": 1.0}
    row |= {"spearman_low": 0.5, "spearman_high": 0.99, "auc_low": None, "auc_high": None}
    m = {"toxicity": {"available": True, "agreement": [row]}}
    assert "ROC-AUC 1.00 (no interval: the data cannot give one)" in prose.toxicity_sentences(m)[0]
    assert "(0.50-0.99)" in prose.toxicity_sentences(m)[0]
    (finding,) = prose.toxicity_findings(m)
    assert "ROC-AUC 1.00 (no interval: the data cannot give one, n = 4)" in finding["text"]
    m["toxicity"]["agreement"][0] |= {"auc_low": 0.8, "auc_high": 1.0}
    assert "(95% CI 0.80-1.00, n = 4)" in prose.toxicity_findings(m)[0]["text"]


def test_a_repeated_score_names_its_message_and_head():
    ds = oq.load_sample()
    first = ds.detoxify.sort_values(["message_id", "head"]).iloc[:1]
    doubled = oq.Dataset.from_tables(ds.messages, labels=ds.labels, detoxify=pd.concat([ds.detoxify, first]))
    mid, head = first["message_id"].iloc[0], first["head"].iloc[0]
    with pytest.raises(
        OasstQualityError, match=re.escape(f"message {mid!r} has two scores for the same head ({head!r})")
    ):
        tx.export_scores(doubled)


def test_a_row_without_an_interval_carries_why_to_the_report():
    from oasst_quality.report import prose

    idx = pd.Index([f"m{i}" for i in range(40)], dtype=object)
    separated = np.r_[np.linspace(0, 0.3, 20), np.linspace(0.6, 0.9, 20)]
    scores = pd.DataFrame({"toxicity": separated, "source": "export"}, index=idx)
    human = pd.DataFrame({"toxicity": np.r_[np.zeros(20), np.ones(20)]}, index=idx)
    table = tx.agreement_from_tables(scores, human, n_resamples=50, max_bootstrap=10)  # analytic: DeLong
    row = table.iloc[0]
    assert pd.isna(row["auc_low"]) and row["auc_no_interval"] == "perfect separation: DeLong's standard error is 0"
    assert "spearman_no_interval" not in table  # Spearman has its interval: no column for it
    m = {"toxicity": {"available": True, "agreement": table.to_dict("records")}}
    said = "ROC-AUC 1.00 (no interval: perfect separation: DeLong's standard error is 0)"
    assert said in prose.toxicity_sentences(m)[0]


def test_tables_already_aligned_give_what_aligning_them_gives():
    scores, human = tx.comparison_tables(oq.load_sample())
    shuffled = human.iloc[::-1]  # the same messages in another order: aligned by id first
    assert scores.index.equals(human.index) and not scores.index.equals(shuffled.index)
    pd.testing.assert_frame_equal(
        tx.agreement_from_tables(scores, human, n_resamples=50),
        tx.agreement_from_tables(scores, shuffled, n_resamples=50),
    )
    pd.testing.assert_frame_equal(
        tx.calibration_from_tables(scores, human), tx.calibration_from_tables(scores, shuffled)
    )
    twice = [*scores.index[:2], scores.index[0], *scores.index[3:]]  # aligned, but one id given twice
    for fn in (tx.agreement_from_tables, tx.calibration_from_tables):
        with pytest.raises(ValueError, match="duplicate"):  # as aligning them raises: rows are not paired by place
            fn(scores.set_axis(twice), human.set_axis(twice))
