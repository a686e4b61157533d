"""Language identification and declared-versus-detected mismatch.

Backends (the ``language`` extra): ``py3langid`` (fast, naive Bayes on byte n-grams), ``lingua``
(``lingua-language-detector``; accurate on short text), ``langdetect`` (seeded, so
deterministic), and ``cascade`` (the default): py3langid first, lingua only for the texts where
py3langid is unsure. Codes are normalised to OASST's locale codes (``pt-BR``, ``uk-UA``, ``nb-NO``,
``zh``, ...). Detection is a pure function of a batch of texts, so it maps over shards.

Very short texts and texts that are mostly code cannot be judged reliably: :func:`mismatches`
marks them undecidable instead of counting them as mismatches.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from . import adapter
from .errors import UsageError

BACKENDS = ("cascade", "py3langid", "lingua", "langdetect")
DEFAULT_BACKEND = "cascade"

#: ISO 639-1 (and detector-specific) codes -> the locale codes OASST uses.
OASST_CODES = {
    "pt": "pt-BR",
    "uk": "uk-UA",
    "nb": "nb-NO",
    "no": "nb-NO",
    "zh-cn": "zh",
    "zh-tw": "zh",
    "zh": "zh",
    "wuu": "zh",
    "yue": "zh",
}  # OASST's zh covers the Chinese languages

_OASST_LOCALES = {c.lower(): c for c in OASST_CODES.values() if "-" in c}
_CODE_FENCE = re.compile(r"```.*?(```|$)", re.S)
# lines that read as code even outside fences: imports, definitions, statements ending in ; { } or )
_CODE_LINE = re.compile(
    r"^\s*(import |from \S+ import |def |class |return\b|#include|public |private |var |let |const |function\b|"
    r"[A-Za-z_][\w.]*\s*=[^=]|[}{)\]]\s*$)|[;{]\s*$"
)
_WORD = re.compile(r"\w+", re.U)


def normalize_code(code: str | None) -> str | None:
    """A detector's language code as OASST writes it."""
    if code is None:
        return None
    code = code.lower()
    if code in _OASST_LOCALES:  # already an OASST locale code
        return _OASST_LOCALES[code]
    return OASST_CODES.get(code, code.split("-")[0])


def _import(name: str):
    try:
        return __import__(name)
    except ImportError:
        raise ImportError(f"backend needs {name!r}: pip install 'oasst_quality[language]'") from None


@lru_cache(maxsize=1)
def _py3langid():
    _import("py3langid")
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


@lru_cache(maxsize=8)
def _lingua(codes: frozenset[str] | None = None):
    """lingua's detector over all its languages, or only over ``codes`` (ISO 639-1) when given:
    lingua loads a model per language on first use, so a small candidate set starts in a fraction
    of the time that all 75 take."""
    lingua = _import("lingua")
    if codes is not None:
        languages = []
        for code in sorted(codes):
            try:
                languages.append(lingua.Language.from_iso_code_639_1(lingua.IsoCode639_1.from_str(code)))
            except ValueError:  # a language lingua does not know
                continue
        if len(languages) >= 2:
            return lingua.LanguageDetectorBuilder.from_languages(*languages).build()
    return lingua.LanguageDetectorBuilder.from_all_languages().build()


def _detect_py3langid(texts: list[str], progress: bool = False) -> tuple[list, np.ndarray]:
    from tqdm.auto import tqdm

    model = _py3langid()
    out = [model.classify(t) for t in tqdm(texts, desc="language", unit="text", disable=not progress)]
    return [c for c, _ in out], np.array([p for _, p in out], dtype=float)


def _detect_lingua(texts: list[str], codes: frozenset[str] | None = None) -> tuple[list, np.ndarray]:
    detector = _lingua(codes)
    results = detector.compute_language_confidence_values_in_parallel(texts)
    codes, conf = [], []
    for values in results:
        if values:
            codes.append(values[0].language.iso_code_639_1.name.lower())
            conf.append(values[0].value)
        else:
            codes.append(None)
            conf.append(0.0)
    return codes, np.array(conf, dtype=float)


def _detect_langdetect(texts: list[str], seed: int) -> tuple[list, np.ndarray]:
    _import("langdetect")
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = seed
    codes, conf = [], []
    for t in texts:
        try:
            best = detect_langs(t)[0]
            codes.append(best.lang)
            conf.append(best.prob)
        except LangDetectException:  # no letters to go on
            codes.append(None)
            conf.append(0.0)
    return codes, np.array(conf, dtype=float)


def detect_languages(
    texts: Sequence[str],
    *,
    backend: str | None = None,
    seed: int = 0,
    cascade_threshold: float = 0.5,
    candidates: Sequence[str] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """Detect the language of each text: one row per text with ``lang`` (OASST codes) and ``confidence``.

    ``backend``: ``"cascade"`` (default), ``"py3langid"``, ``"lingua"`` or ``"langdetect"``. The
    cascade keeps py3langid's answer where its normalised probability is at least
    ``cascade_threshold`` (by default: where it is sure of a majority) and asks lingua for the
    rest. With ``candidates`` (language codes, e.g. the declared ones), the cascade's lingua step
    chooses among those and py3langid's three best guesses for each unsure text, instead of
    loading all of lingua's languages. ``seed`` makes langdetect deterministic; ``progress`` shows a
    bar over the first stage.
    """
    backend = backend or DEFAULT_BACKEND
    texts = ["" if t is None else str(t) for t in texts]
    if backend == "py3langid":
        codes, conf = _detect_py3langid(texts, progress)
    elif backend == "lingua":
        codes, conf = _detect_lingua(texts)
    elif backend == "langdetect":
        codes, conf = _detect_langdetect(texts, seed)
    elif backend == "cascade":
        codes, conf = _detect_py3langid(texts, progress)
        unsure = np.flatnonzero(conf < cascade_threshold)
        if unsure.size:
            pool = None
            if candidates is not None:
                model = _py3langid()
                guesses = {code for i in unsure for code, _ in model.rank(texts[i])[:3]}
                pool = frozenset(c.split("-")[0].lower() for c in candidates if c) | guesses
            second, second_conf = _detect_lingua([texts[i] for i in unsure], pool)
            for j, i in enumerate(unsure):
                if second[j] is not None:
                    codes[i], conf[i] = second[j], second_conf[j]
    else:
        raise UsageError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    return pd.DataFrame({"lang": [normalize_code(c) for c in codes], "confidence": conf})


def decidable(texts: Sequence[str], *, min_words: int = 5, max_code_share: float = 0.5) -> np.ndarray:
    """True for texts long enough (``min_words`` words outside code) and not mostly code."""
    out = np.empty(len(texts), dtype=bool)
    for i, t in enumerate(texts):
        t = t or ""
        prose = _CODE_FENCE.sub(" ", t)
        lines = [ln for ln in prose.splitlines() if ln.strip()]
        prose = "\n".join(ln for ln in lines if not _CODE_LINE.search(ln))
        code_share = 1 - len(prose.strip()) / max(len(t.strip()), 1)
        letters = sum(ch.isalpha() for ch in prose)
        out[i] = (
            len(_WORD.findall(prose)) >= min_words
            and code_share <= max_code_share
            and letters >= 0.5 * max(len(prose.strip()), 1)
        )
    return out


def mismatches(
    dataset, *, backend: str | None = None, seed: int = 0, min_words: int = 5, progress: bool = False
) -> pd.DataFrame:
    """Declared (``lang``) against detected language, one row per message.

    Columns: ``message_id``, ``declared``, ``detected``, ``confidence``, ``decidable`` (long enough
    and not mostly code) and ``mismatch`` (decidable and different; undecidable texts are never
    counted as mismatches, so the cascade's second stage runs on decidable texts only, choosing
    among the declared languages and the first stage's guesses).
    """
    m = adapter.messages(dataset)
    texts = np.asarray(m["text"].fillna("").tolist(), dtype=object)
    ok = decidable(list(texts), min_words=min_words)
    det = pd.DataFrame({"lang": pd.Series([None] * len(texts), dtype=object), "confidence": np.zeros(len(texts))})
    if ok.any():
        candidates = sorted(set(m["lang"].dropna()))
        found = detect_languages(list(texts[ok]), backend=backend, seed=seed, candidates=candidates, progress=progress)
        det.loc[ok, ["lang", "confidence"]] = found.to_numpy()
    if (~ok).any():  # never counted as mismatches: the fast first stage's guess is enough to show
        quick = "py3langid" if backend in (None, "cascade") else backend
        det.loc[~ok, ["lang", "confidence"]] = detect_languages(list(texts[~ok]), backend=quick, seed=seed).to_numpy()
    declared = m["lang"].map(normalize_code).to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "message_id": m["item"].to_numpy(),
            "declared": m["lang"].to_numpy(dtype=object),
            "detected": det["lang"].to_numpy(dtype=object),
            "confidence": det["confidence"].to_numpy(),
            "decidable": ok,
            "mismatch": ok & (det["lang"].to_numpy(dtype=object) != declared),
        }
    )


def mismatch_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per declared language: messages, decidable ones, mismatches and their rate."""
    g = table.groupby("declared")
    out = pd.DataFrame({"messages": g.size(), "decidable": g["decidable"].sum(), "mismatches": g["mismatch"].sum()})
    out["mismatch_rate"] = out["mismatches"] / out["decidable"].where(out["decidable"] > 0)
    return out.sort_values("messages", ascending=False).reset_index()
