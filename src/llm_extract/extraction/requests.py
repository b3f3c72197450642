"""Documents become extraction requests: rendered messages, the text's hash, and the passages marked as injections.

An article too long for the model's context is not sent whole: the server would truncate the prompt or fail with
an error that does not say why. `PromptLimit.refusal` names the estimate and the limit; the runner then extracts
the article in chunks that fit (chunking.py) and merges their records into the document's one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_extract.core.config import Settings
from llm_extract.core.errors import ConfigError
from llm_extract.core.text import text_sha256
from llm_extract.extraction.prompts import Message, PromptTemplate
from llm_extract.inputs.documents import Document
from llm_extract.inputs.injection import find_injections, neutralise
from llm_extract.inputs.sentences import Sentence, numbered, shift_spans, split_sentences

CHARS_PER_TOKEN = 4.0  # a rough English average: an estimate, never a tokenizer count


def estimate_tokens(messages: list[Message]) -> int:
    """About how many prompt tokens the messages take (no tokenizer is loaded to know exactly)."""
    return round(sum(len(message["content"]) for message in messages) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class ExtractionRequest:
    document: Document
    messages: list[Message]
    text_sha256: str  # with the publication date, what llm_extract.runs.identity keys this document's work on
    injections: tuple[tuple[int, int], ...] = ()  # passages marked as suspected instructions to the model
    sentences: tuple[Sentence, ...] = ()  # as numbered for the model, when the prompt numbers them

    @property
    def doc_id(self) -> str:
        return self.document.id


def build_request(document: Document, prompt: PromptTemplate) -> ExtractionRequest:
    """The messages for one document; passages addressed to the model are marked, delimiters escaped (injection.py);
    sentences numbered if the prompt asks (sentences.py)."""
    text_hash = text_sha256(document.text)
    injections = find_injections(document.text)
    shown, marked, sentences = document.text, injections, tuple[Sentence, ...]()
    if prompt.numbers_sentences:
        sentences = split_sentences(document.text)
        shown, marked = numbered(document.text, sentences), shift_spans(injections, sentences)
    return ExtractionRequest(
        document=document,
        messages=prompt.render(neutralise(shown, marked), document.published),
        text_sha256=text_hash,
        injections=tuple(injections),
        sentences=sentences,
    )


@dataclass(frozen=True)
class PromptLimit:
    """The most prompt tokens a request may carry: the context window less the room kept for the answer."""

    tokens: int
    basis: str  # how the limit was derived: shown in refusals and in the run manifest

    def refusal(self, request: ExtractionRequest) -> str | None:
        """Why the request cannot be sent whole, or None if its estimated prompt fits."""
        estimated = estimate_tokens(request.messages)
        if estimated <= self.tokens:
            return None
        return f"too long: about {estimated} tokens, the limit is {self.tokens} ({self.basis})"


def prompt_limit(settings: Settings) -> PromptLimit | None:
    """The limit in force: `context_tokens` if set, else the embedded server's `local_ctx`; none for other servers,
    whose context is unknown (their own error then reports an overflow)."""
    if settings.context_tokens is not None:
        context, name = settings.context_tokens, "context_tokens"
    elif settings.uses_embedded_model:
        context, name = settings.local_ctx, "local_ctx"
    else:
        return None
    if context <= settings.max_tokens:
        raise ConfigError(f"{name} ({context}) leaves no room for a prompt beside max_tokens ({settings.max_tokens})")
    return PromptLimit(context - settings.max_tokens, f"{name} {context} - max_tokens {settings.max_tokens}")
