"""Retrieved examples: the labelled texts most like the article, shown with their answers before it.

Why: a small model copies the form of what it is shown; an example whose text is like the article (the same kind
of event, the same kind of report) shows which phrases fill which slot better than fixed examples can. A prompt
names a pool of labelled examples beside it (`[examples] pool = "..."`, JSONL of {"id", "text", "answer"}); the
k nearest by BM25 (bm25s 0.3.16, over the words of the text, English stop words out) are rendered into the user
message, after the fixed instructions, so the server's prompt cache still reuses the system part. An example
whose text is the article's own is never shown. The pool is part of the prompt's identity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import bm25s

from llm_extract.core.text import text_sha256


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    answer: str  # the answer as the model should write it (compact JSON)


class ExamplePool:
    """The pool's examples and their BM25 index (built on first use: about 0.3 s for 1,200 texts)."""

    def __init__(self, path: Path, k: int) -> None:
        self.path, self.k = path, k
        lines = path.read_text(encoding="utf-8").splitlines()
        self.examples = [self._example(json.loads(line)) for line in lines if line.strip()]

    @staticmethod
    def _example(row: dict[str, Any]) -> Example:
        return Example(str(row["id"]), str(row["text"]), json.dumps(row["answer"], ensure_ascii=False))

    @cached_property
    def _index(self) -> tuple[bm25s.BM25, dict[str, int]]:
        retriever = bm25s.BM25()
        corpus = [example.text for example in self.examples]
        retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False)
        return retriever, {text_sha256(example.text): index for index, example in enumerate(self.examples)}

    def nearest(self, text: str) -> list[Example]:
        """The k examples most like `text`, nearest first; none for an empty text."""
        if not text.strip() or not self.examples:
            return []
        retriever, by_text = self._index
        own = by_text.get(text_sha256(text))
        wanted = min(self.k + (own is not None), len(self.examples))
        query = bm25s.tokenize([text], stopwords="en", show_progress=False)
        if not query.vocab:  # only stop words: nothing to rank by
            return []
        indexes, scores = retriever.retrieve(query, k=wanted, show_progress=False)
        found = [int(index) for index, score in zip(indexes[0], scores[0], strict=True) if score > 0]
        return [self.examples[index] for index in found if index != own][: self.k]
