"""py3langid's model, decompressed once into a user cache of .npy files and memory-mapped by later starts."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import stat
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

#: The model's arrays, each stored as ``NAME.npy``, with the dtype kind each must have. ``ptc`` is
#: kept as float32 (py3langid ships float16): scoring then gathers rows without widening them on
#: every text, and the scores are the same (float16 widens to float32 exactly).
_KINDS = {"ptc": "f", "pc": "f", "classes": "U", "nextmove": "u", "nextmove_row": "u", "out_feat": "i"}


def cache_root() -> Path:
    """``$OASST_QUALITY_CACHE``, else ``$XDG_CACHE_HOME/oasst_quality``, else ``~/.cache/oasst_quality``."""
    if os.environ.get("OASST_QUALITY_CACHE"):
        return Path(os.environ["OASST_QUALITY_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "oasst_quality"


#: Below this many texts still being walked, the walk goes on one text at a time: a numpy step costs
#: about as much as walking that many bytes in Python.
_BATCH_FROM = 16


class Model:
    """py3langid's model with a batch ``classify``; ``identifier`` is py3langid's own
    ``LanguageIdentifier`` (normalised probabilities) over the same arrays, for ``rank``."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        from py3langid.langid import LanguageIdentifier

        self.classes: list[str] = arrays["classes"].tolist()
        self.ptc, self.pc = arrays["ptc"], arrays["pc"]
        self.nextmove = arrays["nextmove"]
        self.rowbase = arrays["nextmove_row"].astype(np.int64) << 8
        self.out = arrays["out_feat"]
        self.alias_pairs = []  # a label that appears twice (a script alias) folds into its first column
        first: dict[str, int] = {}
        for i, c in enumerate(self.classes):
            if c in first:
                self.alias_pairs.append((first[c], i))
            else:
                first[c] = i
        self.identifier = LanguageIdentifier(
            self.ptc,
            self.pc,
            self.classes,
            memoryview(self.nextmove),
            self.out.tolist(),
            norm_probs=True,
            tk_row=memoryview(arrays["nextmove_row"]),
        )

    def classify(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        """Each text's best language and its probability, as py3langid's ``classify`` gives them
        (the same bytes, features and arithmetic), with the tokenizer's walk over the bytes made for
        all texts at once."""
        encoded = [_encode(t) for t in texts]
        codes, probs = [], np.empty(len(texts))
        for k, (data, feats) in enumerate(zip(encoded, self._features(encoded))):
            scores = self._scores(feats[feats >= 0], len(data))
            i = int(scores.argmax())
            codes.append(self.classes[i])
            probs[k] = float(scores[i])
        return codes, probs

    def _features(self, encoded: list[bytes]) -> list[np.ndarray]:
        """The tokenizer's output after each byte of each text (-1: none), as py3langid's walk
        (``visit_counts``) finds them: a step moves every text still being walked on by one byte,
        longest texts first, until fewer than ``_BATCH_FROM`` remain."""
        n = len(encoded)
        lens = np.fromiter(map(len, encoded), dtype=np.int64, count=n)
        order = np.argsort(-lens, kind="stable")
        lens_sorted = lens[order]
        flat_bytes = b"".join(encoded[i] for i in order)
        flat = np.frombuffer(flat_bytes, dtype=np.uint8)
        starts = np.zeros(n, dtype=np.int64)
        np.cumsum(lens_sorted[:-1], out=starts[1:])
        feats = np.empty(flat.size, dtype=np.int32)
        state = np.zeros(n, dtype=np.int64)
        walking = np.searchsorted(-lens_sorted, -np.arange(int(lens_sorted.max(initial=0))), side="left")
        j = 0
        for j, k in enumerate(walking.tolist()):
            if k < _BATCH_FROM:
                break
            at = starts[:k] + j
            state[:k] = self.nextmove[self.rowbase[state[:k]] + flat[at]]
            feats[at] = self.out[state[:k]]
        else:
            j = len(walking)
        nextmove, rowbase, out = memoryview(self.nextmove), self.rowbase.tolist(), self.out.tolist()
        for t in range(int(walking[j]) if j < len(walking) else 0):  # the longest few, one at a time
            s, begin, end = int(state[t]), int(starts[t]), int(starts[t] + lens_sorted[t])
            tail = []
            for byte in flat_bytes[begin + j : end]:
                s = nextmove[rowbase[s] + byte]
                tail.append(out[s])
            feats[begin + j : end] = tail
        by_text = [None] * n
        for t, i in enumerate(order.tolist()):
            by_text[i] = feats[starts[t] : starts[t] + lens_sorted[t]]
        return by_text

    def _scores(self, feats: np.ndarray, n_bytes: int) -> np.ndarray:
        """py3langid's normalised class probabilities from one text's features (``_decide``)."""
        if feats.size:
            visits = Counter(feats.tolist())  # in order of first visit, as py3langid sums them
            idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
            counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
            scores = np.log1p(counts) @ self.ptc[idx] + self.pc
        else:
            scores = np.zeros(len(self.classes), dtype=np.float32)
        scores *= 1.0 / math.sqrt(n_bytes or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in self.alias_pairs:
            scores[i] += scores[j]
            scores[j] = 0.0
        return scores


def _encode(text: str) -> bytes:
    """A text's bytes as py3langid reads them: lowercased when all upper case, NFC, UTF-8."""
    if text.isupper():
        text = text.lower()
    return unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")


def load() -> Model:
    """py3langid's bundled model.

    The model ships xz-compressed (decompressing it is most of a cold start); the first start keeps
    a decompressed copy in ``cache_root()/py3langid-<sha256 of the shipped file>/``, written to a
    temporary folder and renamed into place, so a reader never sees half of it. Later starts map
    those files without pickle (``allow_pickle=False``), and only from a folder owned by this user
    and writable by no one else, with every array's dtype and shape checked; a missing cache root
    is made with mode 0700 whatever the umask, and none is written into a root that others may
    write to. Where the cache cannot be read or written (a read-only folder, say) the model is
    decompressed in memory."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    source = MODEL_DIR / MODEL_FILE
    folder = cache_root() / f"py3langid-{hashlib.sha256(source.read_bytes()).hexdigest()[:16]}"
    arrays = _read(folder)
    if arrays is None:
        arrays = _decompress(source)
        _write(folder, arrays)
    return Model(arrays)


def _decompress(source: Path) -> dict[str, np.ndarray]:
    """The shipped model's arrays, read by py3langid's own loader."""
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, out = load_model(source)
    return {
        "ptc": np.asarray(ptc, dtype=np.float32),
        "pc": np.asarray(pc, dtype=np.float32),
        "classes": np.array(classes),
        "nextmove": np.array(nextmove),
        "nextmove_row": np.array(row),
        "out_feat": np.array(out, dtype=np.int32),
    }


def _valid(arrays: dict[str, np.ndarray]) -> bool:
    """Every array of the right kind, and their shapes consistent with one another."""
    a = arrays
    return (
        all(a[name].dtype.kind == kind for name, kind in _KINDS.items())
        and a["ptc"].ndim == 2
        and a["pc"].shape == a["classes"].shape == (a["ptc"].shape[1],)
        and a["nextmove"].ndim == a["nextmove_row"].ndim == 1
        and a["nextmove"].size % 256 == 0
        and a["nextmove_row"].shape == a["out_feat"].shape
        and int(a["out_feat"].max()) < a["ptc"].shape[0]
        and int(a["nextmove"].max()) < a["out_feat"].size
        and int(a["nextmove_row"].max()) < a["nextmove"].size // 256
    )


def _own(path: Path) -> bool:
    """A real folder (not a link) of this user's that no one else may write to (always, where there
    are no uids)."""
    if not hasattr(os, "getuid"):
        return True
    st = os.lstat(path)
    return not (stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022)


def _trusted(folder: Path) -> bool:
    """``folder`` is this user's own (see ``_own``), in a parent that is this user's own too."""
    return _own(folder) and _own(folder.parent)


def _make_folders(folder: Path) -> None:
    """``folder`` and every missing folder above it, each made with mode 0700 (which a umask such as
    002 leaves as it is), so that the cache root passes ``_trusted``: ``mkdir(parents=True)``
    makes the parents with the umask's default mode (0775 under umask 002)."""
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def _read(folder: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, memory-mapped; None where there are none or they are not sound."""
    try:
        if not folder.is_dir() or not _trusted(folder):
            return None
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False) for name in _KINDS}
        arrays = {name: np.asarray(a) for name, a in arrays.items()}  # plain arrays over the mapped files
        if _valid(arrays):
            return arrays
    except (OSError, ValueError):
        pass
    return None


def _write(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Keep the arrays under ``folder`` for the next start; nothing happens where that fails."""
    tmp = None
    try:
        _make_folders(folder.parent)
        if not _own(folder.parent):  # a copy there would never be read: write none
            return
        if os.path.lexists(folder):  # unsound: replace it, but only a real folder of our own
            st = os.lstat(folder)
            if stat.S_ISLNK(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
                return
            shutil.rmtree(folder)
        tmp = tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent)  # mode 0700
        for name, a in arrays.items():
            np.save(os.path.join(tmp, f"{name}.npy"), a, allow_pickle=False)
        os.rename(tmp, folder)
    except OSError:  # read-only, full, or another process renamed its copy first
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
