"""A tiny, randomly initialised Llama model built entirely offline.

Tests, the demo and CI cannot download a model, so we build one: a byte-level BPE tokenizer trained on
generated English and Chinese text, a ChatML chat template and a 2-layer Llama with head_dim 64 (the size
vLLM's CPU attention accepts). It trains in seconds on a laptop CPU.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

from training_app.trainer.templates import CHATML

BOS_TOKEN = "<s>"
EOS_TOKEN = "<|im_end|>"
PAD_TOKEN = "<|pad|>"
SPECIAL_TOKENS = [PAD_TOKEN, BOS_TOKEN, "<|im_start|>", EOS_TOKEN, "<|endoftext|>"]
VOCAB_SIZE = 3000

# Files save_pretrained writes; their presence means a previous build finished.
_COMPLETE_MARKERS = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")

# Phrase lists are '|'-separated strings (split on use) so they stay compact in the source.
_EN_SUBJECTS = (
    "The model|A user|The platform|Our team|The dataset|This GPU|The teacher|A student|The server|"
    "My friend|The adapter|The scheduler"
)
_EN_VERBS = "trains|reads|writes|answers|evaluates|saves|loads|explains|checks|publishes|learns|runs"
_EN_OBJECTS = (
    "the question|a short answer|the report|every checkpoint|the weather today|a long document|"
    "the capital of France|ten numbers|the chat history|a JSON file|the learning rate|"
    "the evaluation loss"
)
_ZH_SUBJECTS = "我们|模型|用户|老师|学生|平台|服务器|数据集|朋友|团队"
_ZH_VERBS = "训练|回答|阅读|评估|保存|加载|解释|检查|发布|学习"
_ZH_OBJECTS = "这个问题|一段文字|今天的天气|中国的首都|所有的数据|评估报告|学习率|一本书|聊天记录|北京和上海"
# Frequent words and characters, so BPE learns a few thousand real merges instead of a handful of sentences.
_EN_WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have from or one "
    "had by word but not what all were we when your can said there use an each which she do how "
    "their if will up other about out many then them these so some her would make like him into "
    "time has look two more write go see number no way could people my than first water been call "
    "who oil its now find long down day did get come made may part over new sound take only little "
    "work know place year live me back give most very after thing our just name good sentence man "
    "think say great where help through much before line right too mean old any same tell boy "
    "follow came want show also around form three small set put end does another well large must "
    "big even such because turn here why ask went men read need land different home us move try "
    "kind hand picture again change off play spell air away animal house point page letter mother "
    "answer found study still learn should world high every near add food between own below country "
    "plant last school father keep tree never start city earth eye light thought head under story "
    "saw left model data train loss token adapter checkpoint evaluate gradient batch epoch learning "
    "rate weight layer"
)
_ZH_CHARS = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里"
    "所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从"
    "知全点实现问题模型训练数据评估服务器北京上海天气颜色首都老师学生朋友团队平台保存加载解释检查发布阅读"
    "回答文字报告春夏秋冬东南西北山水火木金土花草鸟鱼风雨雪云电话手机电脑网络语言文化历史科学数学音乐体育"
    "医院银行公司"
)
_QUESTIONS = (
    "What is the capital of France?|How many days are in a week?|What color is the sky?|"
    "Who wrote Hamlet?|What is two plus two?|Name a fruit.|中国的首都是哪里？|一周有几天？|天空是什么颜色？|一加一等于几？"
)
_ANSWERS = "Paris.|Seven.|Blue.|Shakespeare.|Four.|An apple.|北京。|七天。|蓝色。|二。"


def _pick(rng: random.Random, phrases: str) -> str:
    return rng.choice(phrases.split("|"))


def _word_salad(rng: random.Random) -> str:
    if rng.random() < 0.5:
        words = _EN_WORDS.split()
        return " ".join(rng.choice(words) for _ in range(rng.randint(6, 14))).capitalize() + "."
    return "".join(rng.choice(_ZH_CHARS) for _ in range(rng.randint(8, 20))) + "。"


def sample_texts(n: int = 900, *, seed: int = 0) -> list[str]:
    """Deterministic English, Chinese, chat-formatted and tool-call texts for tokenizer training."""
    rng = random.Random(seed)
    texts: list[str] = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            texts.append(f"{_pick(rng, _EN_SUBJECTS)} {_pick(rng, _EN_VERBS)} {_pick(rng, _EN_OBJECTS)}.")
        elif kind == 1:
            texts.append(f"{_pick(rng, _ZH_SUBJECTS)}{_pick(rng, _ZH_VERBS)}{_pick(rng, _ZH_OBJECTS)}。")
        elif kind == 2:
            questions, answers = _QUESTIONS.split("|"), _ANSWERS.split("|")
            q = rng.randrange(len(questions))
            texts.append(
                "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                f"<|im_start|>user\n{questions[q]}<|im_end|>\n<|im_start|>assistant\n{answers[q]}<|im_end|>\n"
            )
        elif kind == 3:
            city = rng.choice(["Paris", "Beijing", "London", "上海", "Tokyo"])
            call = json.dumps({"name": "get_weather", "arguments": {"city": city}}, ensure_ascii=False)
            texts.append(call + "\n" + json.dumps({"temperature": rng.randrange(-10, 40), "unit": "C"}))
        elif kind == 4:
            a, b = rng.randrange(100), rng.randrange(100)
            texts.append(f"Question {i}: {a} + {b} = {a + b}. 问题{i}：{a}加{b}等于{a + b}。")
        else:
            texts.append(" ".join(_word_salad(rng) for _ in range(4)))
    return texts


def _is_complete(out_dir: Path) -> bool:
    return all((out_dir / name).is_file() for name in _COMPLETE_MARKERS)


def build_tokenizer(*, seed: int = 0):
    """Train the byte-level BPE tokenizer and wrap it as a PreTrainedTokenizerFast with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(sample_texts(seed=seed), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
        chat_template=CHATML,
        model_max_length=512,
        clean_up_tokenization_spaces=False,
    )


def build_tiny_model(out_dir: Path, *, seed: int = 0) -> Path:
    """Build (or reuse) the tiny Llama model and tokenizer in ``out_dir``; returns ``out_dir``."""
    out_dir = Path(out_dir)
    if _is_complete(out_dir):
        return out_dir

    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(seed=seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        # Wider than Llama's 0.02: with 0.02 the random lm_head caps logits so low that a LoRA update
        # (which cannot touch lm_head or the final norm) cannot push the loss far below ln(vocab).
        initializer_range=0.1,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )

    # Build beside the target and rename, so a crash or a concurrent build never leaves half a model.
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    model.save_pretrained(tmp_dir, safe_serialization=True)
    tokenizer.save_pretrained(tmp_dir)
    (tmp_dir / "tuneforge_tiny.json").write_text(json.dumps({"seed": seed, "vocab_size": len(tokenizer)}))
    if out_dir.exists() and not _is_complete(out_dir):
        shutil.rmtree(out_dir)
    try:
        os.replace(tmp_dir, out_dir)
    except OSError:
        # Another process finished first; its model is identical (same seed), so keep it.
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_dir
