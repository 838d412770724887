"""The built-in engine's model: a transformers causal LM whose PEFT adapters are loaded and dropped at run time.

One generation runs at a time (choosing an adapter changes the model's state), token by token with a KV
cache, so streaming, stop strings and token counts are exact. A producer thread feeds an asyncio queue;
when the client goes away the consumer sets ``cancel`` and the thread stops at the next token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from training_app.trainer.templates import apply_chat_template


class EngineError(Exception):
    """A request the engine refuses, with the HTTP status and OpenAI error type to answer with."""

    def __init__(self, message: str, status: int = 400, param: str | None = None):
        super().__init__(message)
        self.message, self.status, self.param = message, status, param

    @property
    def type(self) -> str:
        return {404: "NotFoundError", 409: "ConflictError"}.get(self.status, "BadRequestError")


@dataclass
class Sampling:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None


@dataclass
class Finish:
    reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int


class LoadedModel:
    def __init__(
        self,
        path: str,
        *,
        served_name: str,
        device: str = "cpu",
        dtype: str = "auto",
        max_model_len: int | None = None,
        chat_template: str | None = None,
        trust_remote_code: bool = False,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device
        self.served_name = served_name
        self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        torch_dtype = _torch_dtype(torch, dtype, device)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=torch_dtype, trust_remote_code=trust_remote_code
        )
        self.model = model.to(device).eval()
        self.root = path
        self.max_model_len = max_model_len or getattr(model.config, "max_position_embeddings", 2048)
        self.chat_template = chat_template
        eos = {self.tokenizer.eos_token_id}
        configured = getattr(model.generation_config, "eos_token_id", None)
        eos.update(configured if isinstance(configured, list) else [configured])
        self.eos_ids = {token for token in eos if token is not None}
        self.adapters: dict[str, str] = {}
        self.lock = threading.Lock()

    # --- adapters ---------------------------------------------------------------------------------
    def load_adapter(self, name: str, path: str) -> None:
        if name == self.served_name or name in self.adapters:
            raise EngineError(f"The lora adapter '{name}' has already been loaded.", status=400)
        config = Path(path) / "adapter_config.json"
        if not config.is_file():
            raise EngineError(f"Loading lora {name} failed: No adapter found for {path}", status=404)
        try:
            json.loads(config.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise EngineError(f"Loading lora {name} failed: adapter_config.json is not JSON") from exc
        from peft import PeftModel

        with self.lock:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(path, adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, path, adapter_name=name)
            self.model.eval()
            self.adapters[name] = path

    def unload_adapter(self, name: str) -> None:
        if name not in self.adapters:
            raise EngineError(f"The lora adapter '{name}' cannot be found.", status=404)
        with self.lock:
            del self.adapters[name]
            if self.adapters:
                self.model.delete_adapter(name)
            else:
                self.model = self.model.unload()  # the plain base model again, LoRA layers removed

    def models(self) -> list[dict]:
        base = {
            "id": self.served_name,
            "root": self.root,
            "parent": None,
            "max_model_len": self.max_model_len,
        }
        adapters = [{"id": n, "root": p, "parent": self.served_name} for n, p in self.adapters.items()]
        return [{"object": "model", "owned_by": "tuneforge", **entry} for entry in [base, *adapters]]

    def resolve(self, name: str) -> str | None:
        """None for the base model, the adapter's name for an adapter; EngineError(404) otherwise."""
        if name == self.served_name:
            return None
        if name in self.adapters:
            return name
        raise EngineError(f"The model `{name}` does not exist.", status=404, param="model")

    # --- prompts ----------------------------------------------------------------------------------
    def chat_prompt(self, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
        # Rendered as at training: the template's own tools block, or the definitions in the system message.
        text = apply_chat_template(
            self.tokenizer,
            messages,
            tools,
            chat_template=self.chat_template,
            add_generation_prompt=True,
            tokenize=False,
        )
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def text_prompt(self, prompt: str) -> list[int]:
        return self.tokenizer(prompt)["input_ids"]

    def check_length(self, prompt_ids: list[int], max_tokens: int | None) -> int:
        room = self.max_model_len - len(prompt_ids)
        if room <= 0 or (max_tokens is not None and max_tokens > room):
            raise EngineError(
                f"This model's maximum context length is {self.max_model_len} tokens. However, you requested "
                f"{len(prompt_ids) + (max_tokens or 0)} tokens ({len(prompt_ids)} in the messages, "
                f"{max_tokens or 0} in the completion). Please reduce the length of the messages or completion.",
                param="max_tokens",
            )
        return max_tokens or room

    # --- generation -------------------------------------------------------------------------------
    def generate(
        self, prompt_ids: list[int], sampling: Sampling, adapter: str | None, cancel: threading.Event
    ) -> Iterator[str | Finish]:
        """Text pieces as they are decoded, then one Finish."""
        with self.lock, self._adapter(adapter), self.torch.inference_mode():
            yield from self._generate(prompt_ids, sampling, cancel)

    @contextlib.contextmanager
    def _adapter(self, adapter: str | None):
        if not self.adapters:
            yield
        elif adapter is None:
            with self.model.disable_adapter():
                yield
        else:
            self.model.set_adapter(adapter)
            yield

    def _generate(self, prompt_ids: list[int], sampling: Sampling, cancel: threading.Event):
        torch = self.torch
        generator = None
        if sampling.seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(sampling.seed)
        ids = torch.tensor([prompt_ids], device=self.device)
        past, out_ids, sent, reason, cut_at_stop, eos = None, [], "", "length", False, 0
        hold = max((len(s) for s in sampling.stop), default=1) - 1  # a stop string may still be forming
        while len(out_ids) < sampling.max_tokens and not cancel.is_set():
            output = self.model(input_ids=ids, past_key_values=past, use_cache=True)
            past = output.past_key_values
            token = self._sample(output.logits[0, -1].float(), sampling, generator)
            if token in self.eos_ids:
                reason, eos = "stop", 1  # counted, as vLLM and OpenAI count it, but never shown
                break
            out_ids.append(token)
            ids = torch.tensor([[token]], device=self.device)
            text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
            cut = min((i for i in (text.find(s) for s in sampling.stop) if i >= 0), default=-1)
            if cut >= 0:
                if text[len(sent) : cut]:
                    yield text[len(sent) : cut]
                reason, cut_at_stop = "stop", True
                break
            ready = text[: len(text) - hold]
            if len(ready) > len(sent) and not ready.endswith("\ufffd"):  # not half a multi-byte character
                yield ready[len(sent) :]
                sent = ready
        if not cut_at_stop:
            text = self.tokenizer.decode(out_ids, skip_special_tokens=True)
            if len(text) > len(sent):
                yield text[len(sent) :]
        yield Finish(reason, len(prompt_ids), len(out_ids) + eos)

    def _sample(self, logits, sampling: Sampling, generator) -> int:
        torch = self.torch
        if sampling.temperature < 1e-5:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / sampling.temperature, dim=-1)
        if sampling.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < sampling.top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        return int(torch.multinomial(probs, 1, generator=generator))


async def stream_generation(
    model: LoadedModel, prompt_ids: list[int], sampling: Sampling, adapter: str | None
) -> AsyncIterator[str | Finish]:
    """Run :meth:`LoadedModel.generate` in a thread and hand its pieces over as they come."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    cancel = threading.Event()
    end = object()

    def produce() -> None:
        try:
            for item in model.generate(prompt_ids, sampling, adapter, cancel):
                loop.call_soon_threadsafe(queue.put_nowait, item)
        except Exception as exc:  # noqa: BLE001 - handed to the request, which answers 500
            loop.call_soon_threadsafe(queue.put_nowait, exc)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, end)

    threading.Thread(target=produce, daemon=True, name="generate").start()
    try:
        while (item := await queue.get()) is not end:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        cancel.set()


def _torch_dtype(torch, dtype: str, device: str):
    if dtype == "auto":
        if device == "cpu":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, dtype)
