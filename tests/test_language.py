import numpy as np
import pandas as pd
import pytest

import oasst_quality as oq
from oasst_quality import language as lg
from oasst_quality.dataset import Dataset

SENTENCES = {
    "en": "The quick brown fox jumps over the lazy dog while the farmer watches from the porch.",
    "es": "El rápido zorro marrón salta sobre el perro perezoso mientras el granjero mira desde el porche.",
    "de": "Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer von der Veranda zusieht.",
    "fr": "Le renard brun rapide saute par-dessus le chien paresseux pendant que le fermier regarde.",
    "ru": "Быстрая коричневая лиса прыгает через ленивую собаку, пока фермер смотрит с крыльца.",
    "pt-BR": "A rápida raposa marrom pula sobre o cachorro preguiçoso enquanto o fazendeiro observa da varanda.",
    "zh": "敏捷的棕色狐狸跳过了那只懒惰的狗，而农夫则在门廊上看着这一切发生。",
}


@pytest.mark.parametrize(
    "code,expected",
    [
        ("pt", "pt-BR"),
        ("pt-BR", "pt-BR"),
        ("pt-br", "pt-BR"),
        ("zh-cn", "zh"),
        ("wuu", "zh"),
        ("uk", "uk-UA"),
        ("uk-UA", "uk-UA"),
        ("no", "nb-NO"),
        ("EN", "en"),
        (None, None),
    ],
)
def test_normalize_code(code, expected):
    assert lg.normalize_code(code) == expected


@pytest.mark.parametrize("backend", lg.BACKENDS)
def test_backends_detect_clear_sentences(backend):
    out = lg.detect_languages(list(SENTENCES.values()), backend=backend)
    assert out["lang"].tolist() == list(SENTENCES)
    assert out["confidence"].between(0, 1).all()


def test_langdetect_is_seeded():
    texts = ["Ciao come stai oggi amico mio", "Hola, ¿cómo estás hoy amigo?"] * 3
    a = lg.detect_languages(texts, backend="langdetect", seed=7)
    b = lg.detect_languages(texts, backend="langdetect", seed=7)
    pd.testing.assert_frame_equal(a, b)


def test_cascade_keeps_confident_first_answers(shared):
    ds = oq.load(shared / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz", lenient=True)
    texts = ds.messages["text"].fillna("").tolist()[:300]
    first = lg.detect_languages(texts, backend="py3langid")
    cascade = lg.detect_languages(texts, backend="cascade")
    sure = first["confidence"] >= 0.5
    assert (cascade.loc[sure, "lang"] == first.loc[sure, "lang"]).all()


def test_decidable():
    ok = lg.decidable(
        [
            SENTENCES["en"],
            "too short",
            "```python\nimport os\nprint(os.getcwd())\n```\nrun this",
            "import numpy as np\nx = np.zeros(3)\ny = x + 1\nprint(y)",
            "12345 678 90 11 12",
        ]
    )
    assert ok.tolist() == [True, False, False, False, False]


def _dataset(rows):
    messages = pd.DataFrame(rows, columns=["message_id", "lang", "text"]).assign(
        parent_id=None, message_tree_id="t", role="prompter", rank=pd.array([None] * len(rows), dtype="Int64")
    )
    return Dataset.from_tables(messages)


def test_mismatches_and_table():
    ds = _dataset(
        [
            ("a", "en", SENTENCES["es"]),
            ("b", "es", SENTENCES["es"]),
            ("c", "de", "ja"),
            ("d", "pt-BR", SENTENCES["pt-BR"]),
            ("e", "en", "x = 1\ny = 2\nprint(x + y)\nreturn y"),
        ]
    )
    t = lg.mismatches(ds).set_index("item")
    assert t["mismatch"].to_dict() == {"a": True, "b": False, "c": False, "d": False, "e": False}
    assert not t.loc["c", "decidable"] and not t.loc["e", "decidable"]
    table = lg.mismatch_table(lg.mismatches(ds)).set_index("declared")
    assert table.loc["en", "mismatches"] == 1 and table.loc["en", "decidable"] == 1


def test_known_real_mismatch_flagged(shared):
    ds = oq.load(shared / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz", lenient=True)
    t = lg.mismatches(ds)
    flagged = t[t["mismatch"]]
    # an English message declared Spanish, read by eye (docs/language.md)
    assert flagged["item"].str.startswith("92aa6ae6").any()
    assert np.isclose(flagged["mismatch"].sum() / t["decidable"].sum(), 23 / 1376, atol=0.01)


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend"):
        lg.detect_languages(["hello"], backend="magic")


def test_cascade_loads_only_the_languages_unsure_texts_need(shared, monkeypatch):
    """No lingua detector over all 75 languages: each unsure text weighs its guesses and declared language."""
    import lingua

    def refuse():
        raise AssertionError("the cascade asked for every lingua language")

    pools = []
    detect = lg._detect_lingua

    def recording(texts, codes=None):
        pools.append(codes)
        return detect(texts, codes)

    monkeypatch.setattr(lingua.LanguageDetectorBuilder, "from_all_languages", refuse)
    monkeypatch.setattr(lg, "_detect_lingua", recording)
    lg._lingua.cache_clear()
    ds = oq.load(shared / "oasst2_openpaws_filtered" / "oasst2_filtered.jsonl.gz", lenient=True)
    m = ds.messages[ds.messages["text"].fillna("").str.split().str.len() >= 5]
    texts, declared = m["text"].tolist(), m["lang"].tolist()
    assert (lg.detect_languages(texts, backend="py3langid")["confidence"] < 0.5).sum() >= 5  # work for lingua
    for given in (None, declared):
        out = lg.detect_languages(texts, declared=given)
        assert len(out) == len(texts) and out["lang"].notna().all()
    assert pools and all(p is not None and 2 <= len(p) <= lg.CASCADE_GUESSES + 1 for p in pools)
    lg._lingua.cache_clear()


def test_declared_must_give_one_language_per_text():
    with pytest.raises(ValueError, match="one per text"):
        lg.detect_languages(["hello there my friend", "hola"], declared=["en"])


def test_lingua_is_asked_only_when_there_is_something_to_compare(monkeypatch):
    """py3langid's unsure best guess stands when lingua knows none of its runners-up (here Aragonese)."""
    asked = []
    detect = lg._detect_lingua

    def recording(texts, codes=None):
        asked.append((texts, codes))
        return detect(texts, codes)

    monkeypatch.setattr(lg, "_detect_lingua", recording)
    alone, spanish = "Give me a vegan pancake recipe.", "Leche, cacao, avellanas y azúcar..."
    first = lg.detect_languages([alone, spanish], backend="py3langid")
    assert (first["confidence"] < 0.5).all() and first["lang"].tolist() == ["en", "an"]
    ranked = [c for c, _ in lg._py3langid().identifier.rank(alone)[:2]]
    assert ranked[0] == "en" and ranked[1] not in lg._lingua_languages()
    out = lg.detect_languages([alone, spanish])
    assert out["lang"].tolist() == ["en", "es"]
    assert out["confidence"][0] == first["confidence"][0]  # the first stage's answer stands
    assert [texts for texts, _ in asked] == [[spanish]]  # lingua compared Spanish with another guess
    asked.clear()
    lg.detect_languages([alone], declared=["es"])  # the declared language is something to compare
    assert asked and asked[0][1] >= {"en", "es"}


def test_candidates_join_every_unsure_texts_comparison(monkeypatch):
    """``candidates`` are compared for every unsure text (as lingua codes; ones lingua lacks left out)."""
    asked = []
    detect = lg._detect_lingua

    def recording(texts, codes=None):
        asked.append((texts, codes))
        return detect(texts, codes)

    monkeypatch.setattr(lg, "_detect_lingua", recording)
    alone, sure = "Give me a vegan pancake recipe.", SENTENCES["de"]
    assert lg.detect_languages([alone, sure], backend="py3langid")["confidence"].tolist()[1] >= 0.5
    assert "an" not in lg._lingua_languages()
    out = lg.detect_languages([alone, sure], candidates=["pt-BR", "fr", "an"])
    assert [texts for texts, _ in asked] == [[alone]]  # the sure text is not asked
    assert asked[0][1] >= {"en", "pt", "fr"} and "an" not in asked[0][1]
    assert out["lang"].tolist()[1] == "de"
