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

from . import adapter, langid_model
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
    return langid_model.load()


#: How many of py3langid's best guesses the cascade's second stage weighs for an unsure text
#: (with the text's declared language, when given; completed to two languages lingua knows). Two: on
#: the OASST2 sample one, two and three agree with the declared languages equally often (0.9816),
#: and two keeps a second guess beside the declared language while loading few models.
CASCADE_GUESSES = 2

_PY3LANGID_CHUNK = 4096  # texts per batch of the first stage (its walk steps over a batch's bytes at once)
_LINGUA_ALIASES = {"no": "nb"}  # py3langid's Norwegian is lingua's Bokmål
_LINGUA_PARALLEL_FROM = 64  # texts per call from which lingua's parallel detection pays


@lru_cache(maxsize=1)
def _lingua_languages() -> dict:
    """ISO 639-1 code -> lingua Language, for every language lingua knows (no model is loaded)."""
    lingua = _import("lingua")
    return {language.iso_code_639_1.name.lower(): language for language in lingua.Language.all()}


@lru_cache(maxsize=64)
def _lingua(codes: frozenset[str] | None = None):
    """lingua's detector over all its languages, or only over ``codes`` (ISO 639-1; at least two it
    knows) when given. lingua loads a language's models on first use and keeps them for every
    detector of the process, so a detector over a few languages starts in a fraction of the time
    that all 75 take, and detectors over overlapping sets share their models."""
    lingua = _import("lingua")
    if codes is not None:
        known = _lingua_languages()
        languages = [known[c] for c in sorted(codes) if c in known]
        if len(languages) >= 2:
            return lingua.LanguageDetectorBuilder.from_languages(*languages).build()
    return lingua.LanguageDetectorBuilder.from_all_languages().build()


def _lingua_code(code: str | None) -> str | None:
    """A py3langid or OASST code as lingua's ISO 639-1 code (``pt-BR`` -> ``pt``)."""
    if not code:
        return None
    code = code.split("-")[0].lower()
    return _LINGUA_ALIASES.get(code, code)


def _second_stage(
    texts: list[str],
    unsure: np.ndarray,
    codes: list,
    conf: np.ndarray,
    *,
    declared: Sequence[str | None] | None,
    candidates: Sequence[str] | None,
    guesses: int,
) -> None:
    """The cascade's lingua step, in place: each unsure text chooses among the languages it needs,
    py3langid's ``guesses`` best guesses, its declared language and ``candidates`` (those lingua
    knows). Where that leaves only py3langid's best guess (its runners-up being languages lingua
    does not know), lingua has nothing to compare it with and is not asked: the first stage's answer
    stands. Otherwise the set is completed with py3langid's next guesses where fewer than two
    remain, so that lingua compares. Texts with the same set share a detector; lingua loads each
    language's models once, lazily, so only the languages some text compares are ever loaded."""
    model = _py3langid()
    known = _lingua_languages()
    extra = {c for c in map(_lingua_code, candidates or ()) if c in known}
    groups: dict[frozenset[str], list[int]] = {}
    for i in unsure.tolist():
        ranked = [_lingua_code(c) for c, _ in model.identifier.rank(texts[i])]
        pool = {c for c in ranked[:guesses] if c in known} | extra
        if declared is not None and _lingua_code(declared[i]) in known:
            pool.add(_lingua_code(declared[i]))
        if pool == {ranked[0]}:  # py3langid's best guess, with nothing lingua knows beside it
            continue
        for c in ranked[guesses:]:  # lingua compares: at least two languages it knows
            if len(pool) >= 2:
                break
            if c in known:
                pool.add(c)
        if len(pool) >= 2:
            groups.setdefault(frozenset(pool), []).append(i)
    for pool, idx in groups.items():
        second, second_conf = _detect_lingua([texts[i] for i in idx], pool)
        for j, i in enumerate(idx):
            if second[j] is not None:
                codes[i], conf[i] = second[j], second_conf[j]


def _detect_py3langid(texts: list[str], progress: bool = False) -> tuple[list, np.ndarray]:
    from tqdm.auto import tqdm

    model = _py3langid()
    codes, conf = [], []
    with tqdm(total=len(texts), desc="language", unit="text", disable=not progress) as bar:
        for start in range(0, len(texts), _PY3LANGID_CHUNK):
            chunk = texts[start : start + _PY3LANGID_CHUNK]
            found, probs = model.classify(chunk)
            codes += found
            conf.append(probs)
            bar.update(len(chunk))
    return codes, np.concatenate([np.zeros(0), *conf])


def _detect_lingua(texts: list[str], codes: frozenset[str] | None = None) -> tuple[list, np.ndarray]:
    detector = _lingua(codes)
    if len(texts) >= _LINGUA_PARALLEL_FROM:
        results = detector.compute_language_confidence_values_in_parallel(texts)
    else:  # a few texts (the cascade's unsure ones): lingua's thread pool costs more than it saves
        results = [detector.compute_language_confidence_values(t) for t in texts]
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
    declared: Sequence[str | None] | None = None,
    candidates: Sequence[str] | None = None,
    guesses: int = CASCADE_GUESSES,
    progress: bool = False,
) -> pd.DataFrame:
    """Detect the language of each text: one row per text with ``lang`` (OASST codes) and ``confidence``.

    ``backend``: ``"cascade"`` (default), ``"py3langid"``, ``"lingua"`` or ``"langdetect"``. The
    cascade keeps py3langid's answer where its normalised probability is at least
    ``cascade_threshold`` (by default: where it is sure of a majority) and asks lingua for the
    rest, each unsure text choosing among py3langid's ``guesses`` best guesses, its ``declared``
    language (one per text, when given) and any ``candidates`` (languages every unsure text may
    be); where that leaves py3langid's best guess alone among the languages lingua knows, its
    answer stands. lingua then loads only the models of the languages it compares, never all 75.
    ``seed`` makes langdetect deterministic; ``progress`` shows a bar over the first stage.
    """
    backend = backend or DEFAULT_BACKEND
    texts = ["" if t is None else str(t) for t in texts]
    if declared is not None and len(declared) != len(texts):
        raise UsageError(f"declared has {len(declared)} languages for {len(texts)} texts; give one per text")
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
            _second_stage(texts, unsure, codes, conf, declared=declared, candidates=candidates, guesses=guesses)
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

    Columns: ``item``, ``declared``, ``detected``, ``confidence``, ``decidable`` (long enough
    and not mostly code) and ``mismatch`` (decidable and different; undecidable texts are never
    counted as mismatches, so the cascade's second stage runs on decidable texts only, each choosing
    among its declared language and the first stage's best guesses).
    """
    m = adapter.messages(dataset)
    texts = np.asarray(m["text"].fillna("").tolist(), dtype=object)
    ok = decidable(list(texts), min_words=min_words)
    det = pd.DataFrame({"lang": pd.Series([None] * len(texts), dtype=object), "confidence": np.zeros(len(texts))})
    if ok.any():
        langs = m["lang"].to_numpy(dtype=object)[ok]
        declared_ok = [x if isinstance(x, str) else None for x in langs]
        found = detect_languages(list(texts[ok]), backend=backend, seed=seed, declared=declared_ok, progress=progress)
        det.loc[ok, ["lang", "confidence"]] = found.to_numpy()
    if (~ok).any():  # never counted as mismatches: the fast first stage's guess is enough to show
        quick = "py3langid" if backend in (None, "cascade") else backend
        det.loc[~ok, ["lang", "confidence"]] = detect_languages(list(texts[~ok]), backend=quick, seed=seed).to_numpy()
    declared = m["lang"].map(normalize_code).to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "item": m["item"].to_numpy(),
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
