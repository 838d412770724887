"""Tokenization and masking: the model learns the assistant's words and nothing else."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from training_app.trainer import data as ds
from training_app.trainer.templates import TEMPLATES

IGNORE = ds.IGNORE_INDEX


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


def trained_text(tokenizer, example) -> str:
    return tokenizer.decode(
        [t for t, lab in zip(example["input_ids"], example["labels"], strict=True) if lab != IGNORE]
    )


def masked_text(tokenizer, example) -> str:
    return tokenizer.decode(
        [t for t, lab in zip(example["input_ids"], example["labels"], strict=True) if lab == IGNORE]
    )


CONVERSATION = {
    "system": "You are terse.",
    "messages": [
        {"role": "user", "content": "First question?"},
        {"role": "assistant", "content": "Old answer.", "weight": 0},
        {"role": "user", "content": "What is the weather?"},
        {"role": "function_call", "content": '{"name": "get_weather"}'},
        {"role": "tool", "content": '{"temperature": 20}'},
        {"role": "assistant", "content": "It is warm."},
    ],
}


def test_labels_mask_system_user_tool_and_weight0_turns(tokenizer):
    example = ds.encode_sft(CONVERSATION, tokenizer, max_seq_len=512)
    trained = trained_text(tokenizer, example)
    masked = masked_text(tokenizer, example)

    assert trained == '<tool_call>\n{"name": "get_weather"}\n</tool_call><|im_end|>It is warm.<|im_end|>'
    for prompt_text in ("You are terse.", "First question?", "What is the weather?", '{"temperature": 20}'):
        assert prompt_text in masked and prompt_text not in trained
    assert "Old answer." in masked  # weight 0: context, not a target
    assert example["attention_mask"] == [1] * len(example["input_ids"])
    # The rendered conversation is tokenized without losing or adding text.
    full = tokenizer.apply_chat_template(ds.to_chat(CONVERSATION)[0], tokenize=False)
    assert tokenizer.decode(example["input_ids"]) == full


def test_train_on_prompt_learns_everything(tokenizer):
    example = ds.encode_sft(CONVERSATION, tokenizer, max_seq_len=512, train_on_prompt=True)
    assert IGNORE not in example["labels"]


def test_truncation_and_fully_truncated_rows(tokenizer):
    full = ds.encode_sft(CONVERSATION, tokenizer, max_seq_len=512)
    first_target = next(i for i, lab in enumerate(full["labels"]) if lab != IGNORE)
    cut = ds.encode_sft(CONVERSATION, tokenizer, max_seq_len=first_target + 3)
    assert cut["input_ids"] == full["input_ids"][: first_target + 3]
    assert cut["labels"] == full["labels"][: first_target + 3]
    # Cut before any assistant token: nothing to learn, so the example is dropped.
    assert ds.encode_sft(CONVERSATION, tokenizer, max_seq_len=first_target) is None


def test_packing_fills_blocks_and_keeps_masks(tokenizer):
    rows = [
        {"messages": [{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": f"A{i}."}]}
        for i in range(10)
    ]
    examples = [ds.encode_sft(r, tokenizer, 64) for r in rows]
    packed = ds.pack_examples(examples, 64)
    assert len(packed) < len(examples)
    assert all(len(p["input_ids"]) <= 64 for p in packed)
    assert sum(len(p["input_ids"]) for p in packed) == sum(len(e["input_ids"]) for e in examples)
    assert sum(lab != IGNORE for p in packed for lab in p["labels"]) == sum(
        lab != IGNORE for e in examples for lab in e["labels"]
    )


def test_pretraining_text_is_chunked_with_eos(tokenizer):
    rows = [{"text": "The model learns the question. " * 10}, {"text": "模型学习问题。" * 10}]
    blocks = ds.encode_pt(rows, tokenizer, 32)
    assert all(len(b["input_ids"]) <= 32 and b["labels"] == b["input_ids"] for b in blocks)
    assert sum(b["input_ids"].count(tokenizer.eos_token_id) for b in blocks) == 2


def test_dpo_rows_become_prompt_chosen_rejected(tokenizer):
    row = {
        "system": "Be kind.",
        "messages": [{"role": "user", "content": "Hi"}],
        "chosen": "Hello!",
        "rejected": "Go.",
    }
    pair = ds.encode_dpo(row, tokenizer)
    assert pair["prompt"].endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    assert pair["prompt"].startswith("<|im_start|>system\nBe kind.")
    assert (pair["chosen"], pair["rejected"]) == ("Hello!<|im_end|>", "Go.<|im_end|>")


def test_split_is_deterministic_and_disjoint():
    rows = list(range(50))
    train, held = ds.split_rows(rows, 0.2, seed=7)
    assert (train, held) == ds.split_rows(rows, 0.2, seed=7)
    assert len(held) == 10 and sorted(train + held) == rows
    assert ds.split_rows(rows, 0.2, seed=8)[1] != held
    assert ds.split_rows(rows, 0.0, seed=7) == (rows, [])


def test_bad_rows_name_file_and_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "ok"}\n{not json}\n', encoding="utf-8")
    with pytest.raises(ds.DatasetError, match=r"broken.jsonl, line 2: not valid JSON"):
        ds.read_jsonl(path)
    path.write_text('{"text": "ok"}\n', encoding="utf-8")
    with pytest.raises(ds.DatasetError, match=r"broken.jsonl, line 1: the sft stage needs 'sft' rows"):
        ds.require_kind(ds.read_jsonl(path), "sft", "sft")
    with pytest.raises(ds.DatasetError, match="not found"):
        ds.read_jsonl(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_named_templates_mask_only_replies(tokenizer, name):
    tokenizer.chat_template = TEMPLATES[name]
    try:
        example = ds.encode_sft(CONVERSATION, tokenizer, max_seq_len=512)
    finally:
        tokenizer.chat_template = TEMPLATES["chatml"]
    trained = trained_text(tokenizer, example)
    assert "It is warm." in trained and "get_weather" in trained
    assert "Old answer." not in trained and "What is the weather?" not in trained
