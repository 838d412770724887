"""What an upload keeps reaches training: tool definitions in the rendered prompt, KTO's unpaired labels."""

from __future__ import annotations

import json

from transformers import AutoTokenizer

from training_app.trainer import data as ds

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
TOOL_ROW = {
    "tools": [WEATHER],
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "function_call", "content": '{"name": "get_weather", "arguments": {"city": "Paris"}}'},
        {"role": "tool", "content": '{"temp": 21}'},
        {"role": "assistant", "content": "It is 21 degrees in Paris."},
    ],
}


def test_a_tool_call_rows_prompt_holds_its_tool_definitions(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    (pair,) = ds.generation_pairs([TOOL_ROW], tokenizer)
    assert json.dumps(WEATHER, ensure_ascii=False) in pair["prompt"]
    assert "<tool_call>" in pair["prompt"] and pair["reference"] == "It is 21 degrees in Paris."
    example = ds.encode_sft(TOOL_ROW, tokenizer, max_seq_len=512)
    text = tokenizer.decode(example["input_ids"])
    assert "get_weather" in text.split("<tool_call>")[0]  # the definitions come before the call
    trained = tokenizer.decode(
        [t for t, label in zip(example["input_ids"], example["labels"], strict=True) if label != -100]
    )
    assert "Current weather of a city" not in trained  # definitions are context, not targets
    # A template that renders tools itself gets them through apply_chat_template(tools=...).
    tokenizer.chat_template = (
        "{%- if tools %}TOOLS:{{ tools | tojson }}\n{% endif -%}"
        "{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor -%}"
        "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif -%}"
    )
    assert ds.generation_pairs([TOOL_ROW], tokenizer)[0]["prompt"].startswith('TOOLS:[{"type": "function"')


def test_kto_trains_on_unpaired_labels(tiny_model, tmp_path, write_jsonl, make_spec, run_spec):
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Say something nice, number {i}."},
                {"role": "assistant", "content": "You are great." if i % 2 else "Go away now."},
            ],
            "label": bool(i % 2),
        }
        for i in range(12)
    ]
    spec = make_spec(
        tiny_model,
        tmp_path / "out",
        write_jsonl(tmp_path / "kto.jsonl", rows),
        stage="kto",
        method="lora",
        hyperparameters={"max_steps": 6, "learning_rate": 5e-3, "pref_beta": 0.1},
    )
    run = run_spec(spec)
    metrics = [e for e in run.of_type("metric") if e.get("loss") is not None]
    assert run.report["stage"] == "kto" and run.report["global_step"] == 6
    assert metrics[-1]["loss"] < metrics[0]["loss"], [m["loss"] for m in metrics]
    assert (tmp_path / "out" / "adapter_config.json").is_file()
    # The undesirable answers are never SFT targets: not even the eval-loss examples hold them.
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    examples = ds.build_lm_examples(rows, tokenizer, stage="sft", max_seq_len=64)
    assert len(examples) == 6
    assert all("Go away" not in tokenizer.decode(ex["input_ids"]) for ex in examples)
