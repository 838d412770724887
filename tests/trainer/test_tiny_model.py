"""The tiny local model: builds offline, loads with the Auto classes, chats and generates."""

from __future__ import annotations

import hashlib
import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from training_app.trainer.tiny_model import build_tiny_model, build_tokenizer


def test_tiny_model_loads_and_generates(tiny_model):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    config = json.loads((tiny_model / "config.json").read_text())

    assert 2000 <= len(tokenizer) <= 4000
    assert config["hidden_size"] // config["num_attention_heads"] == 64  # vLLM's CPU attention needs it
    assert config["vocab_size"] == len(tokenizer)
    assert (tiny_model / "model.safetensors").is_file()
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("<s>", "<|im_end|>", "<|pad|>")

    prompt = tokenizer.apply_chat_template(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "中国的首都是哪里？"},
            {"role": "assistant", "content": "北京。"},
            {"role": "tool", "content": '{"ok": true}'},
            {"role": "user", "content": "Thanks"},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>\n")
    assert "<|im_start|>tool\n" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")

    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert (
        tokenizer.decode(tokenizer("问题：北京和上海", add_special_tokens=False)["input_ids"])
        == "问题：北京和上海"
    )


def test_tiny_model_is_reused_and_deterministic(tiny_model, tmp_path):
    stamp = (tiny_model / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(tiny_model) == tiny_model
    assert (tiny_model / "model.safetensors").stat().st_mtime_ns == stamp  # not rebuilt

    # Same seed, same tokenizer and the same first weights: a fresh machine builds the same model.
    assert build_tokenizer(seed=0).get_vocab() == AutoTokenizer.from_pretrained(tiny_model).get_vocab()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    digest = hashlib.sha256(model.model.embed_tokens.weight.detach().numpy().tobytes()).hexdigest()
    other = build_tiny_model(tmp_path / "again")
    again = AutoModelForCausalLM.from_pretrained(other).model.embed_tokens.weight.detach().numpy().tobytes()
    assert hashlib.sha256(again).hexdigest() == digest
