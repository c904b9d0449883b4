"""The sparse index: BM25 over passages with bm25s (English stemming and stopwords by default).

Saved as versioned directories plus a `CURRENT` pointer replaced atomically, so a reader or a
crash never sees a half-written index.

Old versions are removed only when no reader holds them. A reader holds the version it loads by a
shared `flock` on the version's lock file (so threads of one process and other processes alike);
a writer removes a version only under an exclusive lock taken without waiting, renaming it out of
the `v-*` names first, and leaves a held one for a later save to remove. A reader that finds its
version gone (removed after it read `CURRENT`) reads `CURRENT` again and loads the version named now.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence

import numpy as np

logger = logging.getLogger(__name__)

_CURRENT = "CURRENT"
_IDS = "ids.json"
_LOCK = ".lock"
_ATTEMPTS = 5  # reads of CURRENT before a reader gives up (each retry follows a newer save)


@lru_cache(maxsize=4)
def _stemmer(language: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer(language)


def tokenize(texts: Sequence[str], language: str = "english") -> list[list[str]]:
    """The one tokenizer for corpus and queries: lower-case words, stopwords out, stemmed."""
    import bm25s

    stop = "en" if language == "english" else language
    return bm25s.tokenize(
        list(texts), stopwords=stop, stemmer=_stemmer(language), return_ids=False, show_progress=False
    )


def corpus_token_ids(texts: Iterable[str], language: str = "english") -> tuple[list[list[int]], dict[str, int]]:
    """`tokenize` for a whole corpus, as token ids and the vocabulary (stem -> id) they index.

    The same tokens as `tokenize` text by text; each distinct word is stemmed once.
    """
    from bm25s.tokenization import Tokenizer

    stop = "en" if language == "english" else language
    tokenizer = Tokenizer(stopwords=stop, stemmer=_stemmer(language))
    token_ids = list(tokenizer.streaming_tokenize(texts, update_vocab=True, allow_empty=False))
    return token_ids, tokenizer.get_vocab_dict()


class BM25Index:
    """A bm25s index whose documents are passage ids.

    `generation` records which state of the passage table it was built from, so a collection can
    tell a stale index (after a crash) and rebuild it.
    """

    def __init__(self, model: Any, ids: list[str], *, language: str = "english", generation: int = 0) -> None:
        self._model = model
        self.ids = ids
        self.language = language
        self.generation = generation
        self._lock = threading.Lock()
        self._last: tuple[str, np.ndarray] | None = None  # hybrid search scores one question twice: run, then exact

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        texts: Iterable[str],
        *,
        language: str = "english",
        generation: int = 0,
        show_progress: bool = False,
    ) -> "BM25Index":
        """Index `texts` (any iterable, consumed once) under the passage `ids`.

        Texts are tokenised one at a time into ids of one shared vocabulary, so building holds
        the token ids of the corpus, not its token strings (a third of the memory at 67,000 passages).
        """
        token_ids, vocab = corpus_token_ids(texts, language)
        return cls.from_token_ids(
            ids, token_ids, vocab, language=language, generation=generation, show_progress=show_progress
        )

    @classmethod
    def from_token_ids(
        cls,
        ids: Sequence[str],
        token_ids: list[list[int]],
        vocab: dict[str, int],
        *,
        language: str = "english",
        generation: int = 0,
        show_progress: bool = False,
    ) -> "BM25Index":
        """Index a corpus already tokenised by `corpus_token_ids` with the same `language`."""
        import bm25s

        ids = list(ids)
        if len(ids) != len(token_ids):
            raise ValueError("ids and texts differ in length")
        if not ids:
            return cls(None, [], language=language, generation=generation)
        model = bm25s.BM25()
        model.index((token_ids, vocab), show_progress=show_progress)
        return cls(model, ids, language=language, generation=generation)

    def _scores(self, query: str) -> np.ndarray:
        if self._model is None:
            return np.zeros(0, dtype=np.float32)
        last = self._last
        if last is not None and last[0] == query:
            return last[1]
        token_ids = self._model.get_tokens_ids(tokenize([query], self.language)[0])
        if not token_ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        with self._lock:  # bm25s keeps per-call state on the model
            scores = np.asarray(self._model.get_scores_from_ids(token_ids), dtype=np.float32)
        scores.flags.writeable = False  # shared with the next call for the same question
        self._last = (query, scores)
        return scores

    def search(self, query: str, k: int, ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """Top-k passage ids by BM25 score (among `ids`, when given); passages sharing no term with the query
        are left out."""
        scores = self._scores(query)
        if ids is not None and len(scores):
            position = self._positions()
            allowed = np.zeros(len(scores), dtype=bool)
            allowed[[position[pid] for pid in ids if pid in position]] = True
            scores = np.where(allowed, scores, 0.0)
        k = min(k, int(np.count_nonzero(scores)))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]
        return [(self.ids[i], float(scores[i])) for i in top]

    def score(self, query: str, ids: Sequence[str]) -> dict[str, float]:
        """BM25 scores of given passages (0 for a passage not in the index)."""
        scores = self._scores(query)
        if not len(scores):
            return {pid: 0.0 for pid in ids}
        position = self._positions()
        return {pid: float(scores[position[pid]]) if pid in position else 0.0 for pid in ids}

    def _positions(self) -> dict[str, int]:
        if getattr(self, "_position", None) is None:
            self._position = {pid: i for i, pid in enumerate(self.ids)}
        return self._position

    def save(self, directory: str | Path) -> None:
        """Write a new version beside the old ones, switch `CURRENT` to it atomically, then remove the old
        versions that no reader holds (see the module docstring)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        version = Path(tempfile.mkdtemp(prefix="v-", dir=directory))
        with open(version / _LOCK, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # not to be pruned by another writer before it is current
            meta = {"ids": self.ids, "language": self.language, "generation": self.generation}
            if self._model is not None:
                self._model.save(str(version), show_progress=False)
            with open(version / _IDS, "w", encoding="utf-8") as fh:
                json.dump(meta, fh)
                fh.flush()
                os.fsync(fh.fileno())
            pointer = directory / f"{_CURRENT}.tmp"
            with open(pointer, "w", encoding="utf-8") as fh:
                fh.write(version.name)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(pointer, directory / _CURRENT)
        _prune(directory, keep=version.name)

    @staticmethod
    def saved_generation(directory: str | Path) -> int | None:
        """The generation of the current saved version without loading the index; None when there is none."""
        with _held(Path(directory)) as version:
            if version is None:
                return None
            try:
                with open(version / _IDS, encoding="utf-8") as fh:
                    return int(json.load(fh).get("generation", 0))
            except (OSError, ValueError):
                return None

    @classmethod
    def load(cls, directory: str | Path) -> "BM25Index | None":
        """The current saved version, or None when there is none; the version is held while it is read."""
        with _held(Path(directory)) as version:
            if version is None:
                return None
            try:
                meta = json.loads((version / _IDS).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            model = None
            if meta["ids"]:
                import bm25s

                model = bm25s.BM25.load(str(version), mmap=False, show_progress=False)
        return cls(model, meta["ids"], language=meta.get("language", "english"), generation=meta.get("generation", 0))


def _open_lock(version: Path) -> IO[str] | None:
    """The version's lock file, or None when the version is gone."""
    try:
        return open(version / _LOCK, "a+")
    except OSError:  # FileNotFoundError, or NotADirectoryError for a pointer at a stray file
        return None


@contextmanager
def _held(directory: Path) -> Iterator[Path | None]:
    """The current version, held (a shared lock) while the block reads it; None when none is saved.

    A version removed between reading `CURRENT` and locking it means a newer one is current: read again.
    """
    for _ in range(_ATTEMPTS):
        try:
            name = (directory / _CURRENT).read_text(encoding="utf-8").strip()
        except OSError:
            yield None
            return
        if not name:
            yield None
            return
        version = directory / name
        lock = _open_lock(version)
        if lock is not None:
            with lock:
                fcntl.flock(lock, fcntl.LOCK_SH)  # waits only while a writer is removing this very version
                if (version / _IDS).is_file():  # still there, now that it is held
                    yield version
                    return
        logger.info(
            "BM25 version %r in %s was removed before it could be read; reading the current one", name, directory
        )
    logger.warning("BM25 index in %s kept changing while it was read; treating it as absent", directory)
    yield None


def _prune(directory: Path, keep: str) -> None:
    """Remove every version but `keep` that no reader holds; a held one waits for a later save."""
    for trash in directory.glob("x-*"):  # left by a writer killed while removing
        shutil.rmtree(trash, ignore_errors=True)
    for old in directory.glob("v-*"):
        if old.name == keep:
            continue
        lock = _open_lock(old)
        if lock is None:
            continue
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                logger.debug("BM25 version %s is still being read; it is removed by a later save", old)
                continue
            trash = directory / f"x-{old.name[2:]}"
            try:
                os.rename(old, trash)  # out of the v-* names at once: no reader can be sent to it any more
            except OSError:
                continue
            shutil.rmtree(trash, ignore_errors=True)
