"""The built-in engine: an OpenAI-compatible server on transformers + PEFT, for machines without vLLM.

    python -m serving_app.engine.builtin_server --model DIR --served-model-name NAME --port P
        [--chat-template FILE] [--max-model-len N] [--dtype auto] [--device cpu|cuda]

It answers what the platform uses of vLLM's server, in vLLM's shapes: ``/health``, ``/v1/models``,
``/v1/chat/completions`` and ``/v1/completions`` (streaming as server-sent events, ``stream_options.
include_usage``), and ``/v1/load_lora_adapter`` / ``/v1/unload_lora_adapter`` for adapters at run time.
Like vLLM it requires ``Authorization: Bearer $VLLM_API_KEY`` on ``/v1/*`` when that variable is set.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import os
import time
import uuid
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from serving_app.engine.builtin_model import EngineError, Finish, LoadedModel, Sampling, stream_generation


def error(exc: EngineError) -> JSONResponse:
    body = {"error": {"message": exc.message, "type": exc.type, "param": exc.param, "code": exc.status}}
    return JSONResponse(body, status_code=exc.status)


def _number(body: dict, name: str, low: float, high: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise EngineError(f"{name} must be a number from {low} to {high}.", param=name)
    return float(value)


def _optional_int(body: dict, name: str, low: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise EngineError(f"{name} must be a whole number of at least {low}.", param=name)
    return value


def parse_sampling(body: dict) -> tuple[Sampling, int | None]:
    if body.get("n") not in (None, 1):
        raise EngineError("This engine returns one choice per request: set n to 1.", param="n")
    stop = body.get("stop") or []
    stop = [stop] if isinstance(stop, str) else stop
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 4:
        raise EngineError("stop must be a string or a list of up to 4 non-empty strings.", param="stop")
    max_tokens = _optional_int(body, "max_completion_tokens", 1) or _optional_int(body, "max_tokens", 1)
    sampling = Sampling(
        max_tokens=0,
        temperature=_number(body, "temperature", 0.0, 2.0, 1.0),
        top_p=_number(body, "top_p", 1e-6, 1.0, 1.0),
        stop=stop,
        seed=_optional_int(body, "seed", 0),
    )
    return sampling, max_tokens


def parse_messages(body: dict) -> list[dict]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise EngineError("messages must be a non-empty list.", param="messages")
    parsed = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if role not in ("system", "user", "assistant", "tool"):
            raise EngineError(
                f"messages[{index}].role must be system, user, assistant or tool.", param="messages"
            )
        if isinstance(content, list):
            if not all(isinstance(p, dict) and p.get("type") == "text" for p in content):
                raise EngineError(f"messages[{index}]: only text content is supported.", param="messages")
            content = "".join(str(p.get("text", "")) for p in content)
        if role == "assistant" and message.get("tool_calls"):
            content = _tool_calls_text(message["tool_calls"], index)
        if content is None and role == "assistant":
            content = ""
        if not isinstance(content, str):
            raise EngineError(f"messages[{index}].content must be text.", param="messages")
        parsed.append({"role": role, "content": content})
    return parsed


def _tool_calls_text(calls: object, index: int) -> str:
    """An assistant's ``tool_calls`` in the markup the trainer writes for a function_call turn."""
    if not isinstance(calls, list) or not all(
        isinstance(c, dict)
        and isinstance(c.get("function"), dict)
        and isinstance(c["function"].get("name"), str)
        for c in calls
    ):
        raise EngineError(f"messages[{index}].tool_calls must be a list of function calls.", param="messages")
    parts = []
    for call in calls:
        arguments = call["function"].get("arguments", {})
        if isinstance(arguments, str):
            with contextlib.suppress(ValueError):  # not JSON: kept as the text the client sent
                arguments = json.loads(arguments)
        parts.append(
            json.dumps({"name": call["function"]["name"], "arguments": arguments}, ensure_ascii=False)
        )
    return "\n".join(f"<tool_call>\n{part}\n</tool_call>" for part in parts)


def parse_tools(body: dict) -> list[dict] | None:
    """OpenAI ``tools``: function definitions the chat template renders into the prompt."""
    tools = body.get("tools")
    if tools is None or tools == []:
        return None
    if not isinstance(tools, list) or not all(isinstance(tool, dict) for tool in tools):
        raise EngineError("tools must be a list of tool definitions (objects).", param="tools")
    return tools


class Server:
    def __init__(self, model: LoadedModel, api_key: str | None):
        self.model = model
        self.api_key = api_key
        self.app = Starlette(
            routes=[
                Route("/health", self.health),
                Route("/v1/models", self.models),
                Route("/v1/load_lora_adapter", self.load_adapter, methods=["POST"]),
                Route("/v1/unload_lora_adapter", self.unload_adapter, methods=["POST"]),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/completions", self.completions, methods=["POST"]),
            ]
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/v1") and self.api_key:
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if not hmac.compare_digest(header, f"Bearer {self.api_key}"):
                await JSONResponse({"error": "Unauthorized"}, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def health(self, request: Request) -> Response:
        return Response(status_code=200)

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": self.model.models()})

    async def _json(self, request: Request) -> dict:
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            raise EngineError("The request body is not valid JSON.") from exc
        if not isinstance(body, dict):
            raise EngineError("The request body must be a JSON object.")
        return body

    async def load_adapter(self, request: Request) -> Response:
        try:
            body = await self._json(request)
            name, path = body.get("lora_name"), body.get("lora_path")
            if not isinstance(name, str) or not name or not isinstance(path, str) or not path:
                raise EngineError("Both 'lora_name' and 'lora_path' must be provided.")
            self.model.load_adapter(name, path)
        except EngineError as exc:
            return error(exc)
        return PlainTextResponse(f"Success: LoRA adapter '{name}' added successfully.")

    async def unload_adapter(self, request: Request) -> Response:
        try:
            body = await self._json(request)
            name = body.get("lora_name")
            self.model.unload_adapter(name if isinstance(name, str) else "")
        except EngineError as exc:
            return error(exc)
        return PlainTextResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    async def chat(self, request: Request) -> Response:
        return await self._complete(request, chat=True)

    async def completions(self, request: Request) -> Response:
        return await self._complete(request, chat=False)

    async def _complete(self, request: Request, *, chat: bool) -> Response:
        try:
            body = await self._json(request)
            name = body.get("model")
            adapter = self.model.resolve(name if isinstance(name, str) else "")
            sampling, max_tokens = parse_sampling(body)
            if chat:
                prompt_ids = self.model.chat_prompt(parse_messages(body), parse_tools(body))
            else:
                prompt_ids = self._prompt(body)
            sampling.max_tokens = self.model.check_length(prompt_ids, max_tokens)
        except EngineError as exc:
            return error(exc)
        shape = Shape(chat=chat, model=name, include_usage=_include_usage(body))
        pieces = stream_generation(self.model, prompt_ids, sampling, adapter)
        if body.get("stream"):
            return StreamingResponse(shape.events(pieces), media_type="text/event-stream")
        text, finish = [], None
        async for piece in pieces:
            if isinstance(piece, Finish):
                finish = piece
            else:
                text.append(piece)
        return JSONResponse(shape.whole("".join(text), finish))

    def _prompt(self, body: dict) -> list[int]:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
            return list(prompt)
        if not isinstance(prompt, str) or not prompt:
            raise EngineError("prompt must be one non-empty string (or a list of token ids).", param="prompt")
        return self.model.text_prompt(prompt)


def _include_usage(body: dict) -> bool:
    options = body.get("stream_options")
    return bool(isinstance(options, dict) and options.get("include_usage"))


class Shape:
    """OpenAI response objects for one request: a whole answer, or the chunks of a stream."""

    def __init__(self, *, chat: bool, model: str, include_usage: bool):
        self.chat, self.model, self.include_usage = chat, model, include_usage
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def _envelope(self, kind: str, choices: list) -> dict:
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    @staticmethod
    def _usage(finish: Finish) -> dict:
        total = finish.prompt_tokens + finish.completion_tokens
        return {
            "prompt_tokens": finish.prompt_tokens,
            "completion_tokens": finish.completion_tokens,
            "total_tokens": total,
        }

    def whole(self, text: str, finish: Finish) -> dict:
        if self.chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}}
            body = self._envelope(
                "chat.completion", [{**choice, "logprobs": None, "finish_reason": finish.reason}]
            )
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish.reason}
            body = self._envelope("text_completion", [choice])
        return {**body, "usage": self._usage(finish)}

    def _chunk(self, delta: dict | str, reason: str | None) -> bytes:
        if self.chat:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            body = self._envelope("chat.completion.chunk", [choice])
        else:
            body = self._envelope(
                "text_completion", [{"index": 0, "text": delta, "logprobs": None, "finish_reason": reason}]
            )
        return _sse(body)

    async def events(self, pieces):
        try:
            if self.chat:
                yield self._chunk({"role": "assistant", "content": ""}, None)
            async for piece in pieces:
                if isinstance(piece, Finish):
                    yield self._chunk({"content": ""} if self.chat else "", piece.reason)
                    if self.include_usage:
                        yield _sse({**self._envelope(self._kind(), []), "usage": self._usage(piece)})
                else:
                    yield self._chunk({"content": piece} if self.chat else piece, None)
            yield b"data: [DONE]\n\n"
        finally:
            await pieces.aclose()  # a client that went away stops the generation at once

    def _kind(self) -> str:
        return "chat.completion.chunk" if self.chat else "text_completion"


def _sse(body: dict) -> bytes:
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m serving_app.engine.builtin_server", description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--served-model-name", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--chat-template")
    parser.add_argument("--max-model-len", type=int)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float16", "bfloat16", "float32"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--trust-remote-code", action="store_true")
    args = parser.parse_args(argv)

    import uvicorn

    template = Path(args.chat_template).read_text(encoding="utf-8") if args.chat_template else None
    model = LoadedModel(
        args.model,
        served_name=args.served_model_name,
        device=args.device,
        dtype=args.dtype,
        max_model_len=args.max_model_len,
        chat_template=template,
        trust_remote_code=args.trust_remote_code,
    )
    print(f"Serving {args.model} as {args.served_model_name} on {args.host}:{args.port}", flush=True)
    server = Server(model, os.environ.get("VLLM_API_KEY") or None)
    uvicorn.run(server, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
