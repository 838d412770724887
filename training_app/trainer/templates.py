"""Named chat templates (Jinja, in the Hugging Face ``chat_template`` dialect).

A job may override the model's own template by name or with a raw Jinja string. The chosen template is
saved with the output tokenizer, so serving renders prompts exactly as training did. Every template here
renders a conversation as a plain prefix of the same conversation with one more turn: prompt masking in
``data.py`` relies on that.
"""

from __future__ import annotations

import json
from typing import Any

CHATML = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# Qwen2.5: ChatML with a default system prompt; tool results come back inside a user turn.
QWEN = (
    "{%- if not messages or messages[0]['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'tool' -%}"
    "{{- '<|im_start|>user\\n<tool_response>\\n' + message['content'] + '\\n</tool_response><|im_end|>\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

LLAMA3 = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- set role = 'ipython' if message['role'] == 'tool' else message['role'] -%}"
    "{{- '<|start_header_id|>' + role + '<|end_header_id|>\\n\\n' + message['content'] + '<|eot_id|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}"
    "{%- endif -%}"
)

# Stanford Alpaca as LLaMA-Factory renders it (multi-turn: one Instruction/Response pair per turn).
ALPACA = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{{- messages[0]['content'] + '\\n\\n' -}}{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{{- 'Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\\n\\n' -}}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'user' -%}{{- '### Instruction:\\n' + message['content'] + '\\n\\n' -}}"
    "{%- elif message['role'] == 'tool' -%}{{- '### Observation:\\n' + message['content'] + '\\n\\n' -}}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- '### Response:\\n' + message['content'] + eos_token + '\\n\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '### Response:\\n' -}}{%- endif -%}"
)

TEMPLATES: dict[str, str] = {"chatml": CHATML, "qwen": QWEN, "llama3": LLAMA3, "alpaca": ALPACA}


def resolve_chat_template(value: str | None) -> str | None:
    """Turn a template name or a raw Jinja string into Jinja; ``None``/empty keeps the model's own."""
    if not value:
        return None
    if value in TEMPLATES:
        return TEMPLATES[value]
    if "{%" in value or "{{" in value:
        return value
    known = ", ".join(sorted(TEMPLATES))
    raise ValueError(f"Unknown chat template {value!r}: use one of {known} or a Jinja template string")


TOOLS_SYSTEM = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{tools}\n</tools>\n\n"
    "For each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{{"name": <function-name>, "arguments": <args-json-object>}}\n</tool_call>'
)


def template_renders_tools(chat_template: object) -> bool:
    """Whether a chat template reads the ``tools`` variable (``apply_chat_template(tools=...)``)."""
    if isinstance(chat_template, dict):  # several named templates: the default one renders chats
        chat_template = chat_template.get("default") or next(iter(chat_template.values()), "")
    return isinstance(chat_template, str) and "tools" in chat_template


def tools_in_system(messages: list[dict], tools: list[dict]) -> list[dict]:
    """For a template that ignores ``tools``: the definitions go into the system message, in Qwen2.5's
    wording, so the model still sees what it may call (at training, evaluation and serving alike)."""
    block = TOOLS_SYSTEM.format(tools="\n".join(json.dumps(tool, ensure_ascii=False) for tool in tools))
    if messages and messages[0].get("role") == "system":
        system = f"{messages[0]['content']}\n\n{block}" if messages[0].get("content") else block
        return [{**messages[0], "content": system}, *messages[1:]]
    return [{"role": "system", "content": block}, *messages]


def apply_chat_template(
    tokenizer: Any, messages: list[dict], tools: list | None = None, **kwargs: Any
) -> Any:
    """``tokenizer.apply_chat_template`` with ``tools`` rendered whether or not the template knows them."""
    template = kwargs.get("chat_template") or getattr(tokenizer, "chat_template", None)
    if tools and template_renders_tools(template):
        return tokenizer.apply_chat_template(messages, tools=tools, **kwargs)
    if tools:
        messages = tools_in_system(messages, tools)
    return tokenizer.apply_chat_template(messages, **kwargs)
