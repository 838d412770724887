"""Named chat templates (Jinja, in the Hugging Face ``chat_template`` dialect).

A job may override the model's own template by name or with a raw Jinja string. The chosen template is
saved with the output tokenizer, so serving renders prompts exactly as training did. Every template here
renders a conversation as a plain prefix of the same conversation with one more turn: prompt masking in
``data.py`` relies on that.
"""

from __future__ import annotations

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
