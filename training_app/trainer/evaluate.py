"""Held-out evaluation: loss, perplexity and generation metrics scored the way LLaMA-Factory scores them.

ROUGE-1/2/L come from rouge_chinese on jieba-segmented text and BLEU-4 from nltk's sentence_bleu with
smoothing method 3 on characters (LLaMA-Factory's ``ComputeSimilarity`` does exactly this), so the numbers
are comparable with LLaMA-Factory and Bisheng reports. All scores are percentages (0-100).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

N_SAMPLES = 5
_SCORE_KEYS = ("bleu_4", "rouge_1", "rouge_2", "rouge_l")
# The names LLaMA-Factory's predict step writes, which Bisheng's evaluation page reads.
_ALIASES = {
    "predict_bleu-4": "bleu_4",
    "predict_rouge-1": "rouge_1",
    "predict_rouge-2": "rouge_2",
    "predict_rouge-l": "rouge_l",
}


def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)  # jieba logs its dictionary loading at INFO on every process
    return jieba


def similarity(prediction: str, reference: str) -> dict[str, float]:
    """BLEU-4 and ROUGE-1/2/L (percent) of one prediction against one reference."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    jieba = _jieba()
    hypothesis = list(jieba.cut(prediction))
    ref_words = list(jieba.cut(reference))
    if not " ".join(hypothesis).split() or not " ".join(ref_words).split():
        rouge = {"rouge-1": 0.0, "rouge-2": 0.0, "rouge-l": 0.0}
    else:
        scores = Rouge().get_scores(" ".join(hypothesis), " ".join(ref_words))[0]
        rouge = {key: value["f"] * 100 for key, value in scores.items()}
    bleu = 0.0
    if prediction and reference:
        bleu = sentence_bleu(
            [list(reference)], list(prediction), smoothing_function=SmoothingFunction().method3
        )
    return {
        "bleu_4": bleu * 100,
        "rouge_1": rouge["rouge-1"],
        "rouge_2": rouge["rouge-2"],
        "rouge_l": rouge["rouge-l"],
    }


def generation_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean BLEU-4, ROUGE-1/2/L and exact match (all percent) plus the Bisheng/LLaMA-Factory aliases."""
    keys = _SCORE_KEYS
    totals = dict.fromkeys(keys, 0.0)
    exact = 0
    for prediction, reference in zip(predictions, references, strict=True):
        for key, value in similarity(prediction, reference).items():
            totals[key] += value
        exact += prediction.strip() == reference.strip()
    n = max(1, len(predictions))
    result = {key: round(totals[key] / n, 4) for key in keys}
    result["exact_match"] = round(100 * exact / n, 4)
    result.update({alias: result[key] for alias, key in _ALIASES.items()})
    return result


def lm_loss(
    model: Any, examples: Sequence[dict[str, list[int]]], pad_token_id: int, batch_size: int = 8
) -> float:
    """Mean cross-entropy per trained (non -100) token, the same loss the Trainer optimises."""
    import torch

    from training_app.trainer.data import IGNORE_INDEX, PadCollator

    collate = PadCollator(pad_token_id)
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            batch = {k: v.to(device) for k, v in collate(list(examples[i : i + batch_size])).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.size(-1)),
                labels.reshape(-1),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
            total += losses.item()
            count += int((labels != IGNORE_INDEX).sum())
    return total / count if count else float("nan")


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    max_prompt_len: int,
    batch_size: int = 8,
) -> list[str]:
    """Greedy completions for rendered prompts (left-padded batches, stop at end of turn)."""
    import torch

    device = next(model.parameters()).device
    sides = tokenizer.padding_side, tokenizer.truncation_side
    # Pad and cut on the left: the generation prompt at the end of each prompt must survive.
    tokenizer.padding_side = tokenizer.truncation_side = "left"
    stop_ids = {tokenizer.eos_token_id}
    gen_eos = getattr(model.generation_config, "eos_token_id", None)
    stop_ids.update(gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else [])
    outputs: list[str] = []
    try:
        for i in range(0, len(prompts), batch_size):
            enc = tokenizer(
                list(prompts[i : i + batch_size]),
                add_special_tokens=False,
                padding=True,
                truncation=True,
                max_length=max_prompt_len,
                return_tensors="pt",
            ).to(device)
            with torch.no_grad():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    eos_token_id=sorted(stop_ids),
                    pad_token_id=tokenizer.pad_token_id,
                )
            new_tokens = out[:, enc["input_ids"].shape[1] :]
            outputs.extend(t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = sides
    return outputs


def load_for_eval(
    model_path: str,
    adapter_path: str | None,
    *,
    tokenizer_path: str | None,
    trust_remote_code: bool,
    use_cpu: bool,
) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    on_gpu = torch.cuda.is_available() and not use_cpu
    dtype = torch.float32
    if on_gpu:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    tokenizer = AutoTokenizer.from_pretrained(
        tokenizer_path or adapter_path or model_path, trust_remote_code=trust_remote_code
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, trust_remote_code=trust_remote_code)
    if adapter_path:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_path)
    model.to("cuda" if on_gpu else "cpu").eval()
    return model, tokenizer


def evaluate_model(
    model_path: str,
    adapter_path: str | None,
    eval_rows: Sequence[dict[str, Any]],
    *,
    stage: str = "sft",
    max_seq_len: int = 1024,
    max_new_tokens: int = 64,
    max_samples: int = 50,
    do_generation: bool = True,
    chat_template: str | None = None,
    tokenizer_path: str | None = None,
    trust_remote_code: bool = False,
    use_cpu: bool = False,
    batch_size: int = 8,
) -> dict[str, Any]:
    """Score a model (base, full fine-tune, or base + adapter) on canonical rows; returns the report dict.

    Call it with ``adapter_path=None`` on the base model to get the "before" column of a comparison.
    ``chat_template`` (a name or Jinja) overrides the tokenizer's, as in the training spec.
    """
    from training_app.trainer.data import build_lm_examples, generation_pairs
    from training_app.trainer.templates import CHATML, resolve_chat_template

    model, tokenizer = load_for_eval(
        model_path,
        adapter_path,
        tokenizer_path=tokenizer_path,
        trust_remote_code=trust_remote_code,
        use_cpu=use_cpu,
    )
    template = resolve_chat_template(chat_template)
    if template or (not tokenizer.chat_template and stage != "pt"):
        tokenizer.chat_template = template or CHATML
    examples = build_lm_examples(
        eval_rows, tokenizer, stage="pt" if stage == "pt" else "sft", max_seq_len=max_seq_len
    )
    eval_loss = lm_loss(model, examples, tokenizer.pad_token_id, batch_size)
    report: dict[str, Any] = {
        "eval_loss": round(eval_loss, 6) if math.isfinite(eval_loss) else None,
        "perplexity": round(math.exp(eval_loss), 4) if math.isfinite(eval_loss) and eval_loss < 700 else None,
        "num_examples": len(examples),
    }
    pairs = generation_pairs(eval_rows[:max_samples], tokenizer) if do_generation and stage != "pt" else []
    if pairs:
        predictions = generate(
            model,
            tokenizer,
            [p["prompt"] for p in pairs],
            max_new_tokens=max_new_tokens,
            max_prompt_len=max(8, max_seq_len - max_new_tokens),
            batch_size=batch_size,
        )
        report.update(generation_metrics(predictions, [p["reference"] for p in pairs]))
        report["num_generated"] = len(pairs)
        report["samples"] = [
            {"prompt": p["question"], "reference": p["reference"], "prediction": pred}
            for p, pred in list(zip(pairs, predictions, strict=True))[:N_SAMPLES]
        ]
    else:
        report.update(dict.fromkeys((*_SCORE_KEYS, "exact_match", *_ALIASES), None))
        report["samples"] = []
    return report
