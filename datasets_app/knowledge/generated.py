"""Generated pairs: a language model writes N grounded pairs per chunk through the official ``openai`` client.

Any OpenAI-compatible endpoint works: one of the organization's deployments through the platform's own
gateway, or an external one an org admin set. A reply that is not a JSON list of ``{question, answer}`` is
asked again (``retries`` times), then the chunk is skipped with the reason logged. A pair whose answer
shares too few words (or CJK characters) with its chunk is flagged for the reviewer, not dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import openai
from openai import OpenAI

DEFAULT_PROMPT = (
    "You write question-answer pairs for training a support assistant. Read the text and write {n} "
    "questions a user might ask that the text answers, each with its answer taken from the text. "
    "Write them in {language}. Reply with only a JSON list: "
    '[{{"question": "...", "answer": "..."}}]\n\nText:\n{chunk}'
)
WORD = re.compile(r"[\u3400-\u9fff]|[^\W_]+", re.UNICODE)
FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


@dataclass
class GenerationOptions:
    prompt: str = DEFAULT_PROMPT
    language: str = "the language of the text"
    pairs_per_chunk: int = 3
    concurrency: int = 2
    retries: int = 1
    min_overlap: float = 0.5
    max_tokens: int = 512
    temperature: float = 0.2


@dataclass
class ChunkResult:
    pairs: list[dict] = field(default_factory=list)
    attempts: int = 0
    error: str = ""


def support(answer: str, chunk: str) -> float:
    """The share of the answer's words (CJK: characters) that occur in the chunk: 0 to 1."""
    words = [w.lower() for w in WORD.findall(answer)]
    if not words:
        return 0.0
    present = {w.lower() for w in WORD.findall(chunk)}
    return sum(1 for w in words if w in present) / len(words)


def parse_reply(reply: str) -> list[dict]:
    """The pairs of a model's reply, or ValueError saying what is wrong with it."""
    text = FENCE.sub("", (reply or "").strip())
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if isinstance(data, dict):
        data = data.get("pairs", [data])
    if not isinstance(data, list) or not data:
        raise ValueError("not a non-empty JSON list of pairs")
    pairs = []
    for index, item in enumerate(data, start=1):
        question = str(item.get("question", "")).strip() if isinstance(item, dict) else ""
        answer = str(item.get("answer", "")).strip() if isinstance(item, dict) else ""
        if not question or not answer:
            raise ValueError(f'pair {index} lacks a "question" or an "answer"')
        pairs.append({"question": question, "answers": [answer]})
    return pairs


class Generator:
    """Calls one endpoint for many chunks, ``concurrency`` at a time."""

    def __init__(self, base_url: str, api_key: str, model: str, options: GenerationOptions):
        self.client = OpenAI(base_url=base_url, api_key=api_key, max_retries=1, timeout=120)
        self.model = model
        self.options = options

    def for_chunk(self, chunk: str) -> ChunkResult:
        options = self.options
        prompt = options.prompt.format(n=options.pairs_per_chunk, language=options.language, chunk=chunk)
        result = ChunkResult()
        for _ in range(options.retries + 1):
            result.attempts += 1
            try:
                reply = self.client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=options.max_tokens,
                    temperature=options.temperature,
                )
                pairs = parse_reply(reply.choices[0].message.content or "")
            except ValueError as exc:
                result.error = f"the reply was {exc}"
                continue
            except openai.APIError as exc:
                result.error = f"the endpoint answered an error: {_api_error(exc)}"
                continue
            for pair in pairs[: options.pairs_per_chunk]:
                score = support(pair["answers"][0], chunk)
                if score < options.min_overlap:
                    pair["flag_reason"] = f"only {score:.0%} of the answer's words are in its chunk"
            result.pairs, result.error = pairs[: options.pairs_per_chunk], ""
            return result
        return result

    def run(self, chunks: list[str], done: Callable[[int, ChunkResult], None]) -> None:
        """Generate for every chunk; ``done(index, result)`` is called in the caller's thread, in order
        of completion (database writes stay in one thread)."""
        with ThreadPoolExecutor(max_workers=max(1, self.options.concurrency)) as pool:
            futures = {pool.submit(self.for_chunk, text): index for index, text in enumerate(chunks)}
            for future in as_completed(futures):
                done(futures[future], future.result())


def _api_error(exc: openai.APIError) -> str:
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}: {exc.message}" if status else exc.message
