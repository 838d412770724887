"""Load the base model and tokenizer and make the right parameters trainable for each method."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from training_app.trainer.errors import JobError
from training_app.trainer.spec import Hyperparameters, JobSpec
from training_app.trainer.templates import CHATML, resolve_chat_template


@dataclass
class Placement:
    on_gpu: bool
    load_dtype: torch.dtype
    device_map: dict[str, Any] | None


def placement(hp: Hyperparameters, method: str) -> Placement:
    """Where and in which dtype to load. Frozen weights may be half precision; trainable ones stay fp32."""
    on_gpu = torch.cuda.is_available() and not hp.cpu_load
    half = torch.bfloat16 if hp.bf16 else torch.float16 if hp.fp16 else None
    load_dtype = (
        half if (on_gpu and half is not None and method in ("freeze", "lora", "qlora")) else torch.float32
    )
    if method == "qlora":
        # Quantized weights cannot be moved by Trainer; each process loads onto its own GPU.
        compute = half or (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        return Placement(True, compute, {"": int(os.environ.get("LOCAL_RANK", "0"))})
    return Placement(on_gpu, load_dtype, None)


def check_model_path(spec: JobSpec) -> None:
    """Fail early, in words, when the base model is not on this machine."""
    from transformers import AutoConfig

    missing = [message for name, message in spec.input_errors() if name == "model_path"]
    if missing:
        raise JobError(missing[0])
    if not Path(spec.model_path).expanduser().exists():  # a hub id: only usable if already cached
        try:
            AutoConfig.from_pretrained(spec.model_path, trust_remote_code=spec.trust_remote_code)
        except (OSError, ValueError) as exc:
            raise JobError(
                f"Base model not found: {spec.model_path} is not a local directory and is not in the "
                "Hugging Face cache (the trainer never downloads)",
                str(exc),
            ) from exc


def load_tokenizer(spec: JobSpec) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.model_path, trust_remote_code=spec.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise JobError(f"Could not load the tokenizer of {spec.model_path}", str(exc)) from exc
    template = resolve_chat_template(spec.chat_template)
    if template:
        tokenizer.chat_template = template
    elif not tokenizer.chat_template and spec.stage != "pt":
        # Base (non-chat) models ship no template; ChatML is what most current chat models use.
        tokenizer.chat_template = CHATML
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if tokenizer.eos_token is None:
        raise JobError(f"The tokenizer of {spec.model_path} has no end-of-sequence token")
    return tokenizer


def load_model(spec: JobSpec, where: Placement) -> Any:
    from transformers import AutoModelForCausalLM

    hp = spec.hyperparameters
    kwargs: dict[str, Any] = {"dtype": where.load_dtype, "trust_remote_code": spec.trust_remote_code}
    if spec.method == "qlora":
        from transformers import BitsAndBytesConfig

        bits = hp.quantization_bit or 4
        kwargs["quantization_config"] = (
            BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=where.load_dtype,
            )
            if bits == 4
            else BitsAndBytesConfig(load_in_8bit=True)
        )
        kwargs["device_map"] = where.device_map
    model = AutoModelForCausalLM.from_pretrained(spec.model_path, **kwargs)
    model.config.use_cache = False  # the KV cache is useless in training and clashes with checkpointing
    return model


def decoder_layers(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The stack of transformer blocks, found by shape rather than by architecture-specific names."""
    n_layers = model.config.get_text_config().num_hidden_layers
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n_layers:
            return name, module
    raise JobError("Freeze tuning could not find the model's decoder layers; use LoRA or full fine-tuning")


def apply_freeze(model: nn.Module, hp: Hyperparameters) -> list[str]:
    """Train only the last N (or first -N) decoder layers, optionally only some modules inside them."""
    prefix, layers = decoder_layers(model)
    n = max(-len(layers), min(len(layers), hp.freeze_trainable_layers))
    indices = range(len(layers) - n, len(layers)) if n > 0 else range(-n)
    modules = (
        None
        if hp.freeze_trainable_modules == "all"
        else [m.strip() for m in hp.freeze_trainable_modules.split(",")]
    )
    layer_prefixes = [f"{prefix}.{i}." for i in indices]
    trained: list[str] = []
    for name, param in model.named_parameters():
        rest = next((name[len(p) :] for p in layer_prefixes if name.startswith(p)), None)
        wanted = rest is not None and (modules is None or any(rest.startswith(m + ".") for m in modules))
        param.requires_grad_(wanted)
        if wanted:
            trained.append(name)
    if not trained:
        raise JobError(
            f"freeze_trainable_modules={hp.freeze_trainable_modules!r} matched no parameters in the trainable "
            f"layers; module names in this model's layers: {', '.join(_child_names(layers[0]))}"
        )
    return trained


def _child_names(module: nn.Module) -> list[str]:
    return [name for name, _ in module.named_children()]


def lora_config(hp: Hyperparameters) -> Any:
    from peft import LoraConfig

    # "all-linear" is PEFT's own spelling of "every linear layer except the output head".
    targets = "all-linear" if hp.lora_target == "all" else [t.strip() for t in hp.lora_target.split(",")]
    return LoraConfig(
        r=hp.lora_rank,
        lora_alpha=hp.lora_alpha,
        lora_dropout=hp.lora_dropout,
        target_modules=targets,
        use_dora=hp.use_dora,
        task_type="CAUSAL_LM",
    )


def prepare_model(model: nn.Module, spec: JobSpec, *, gradient_checkpointing: bool) -> tuple[nn.Module, Any]:
    """Apply the method. Returns (model, peft_config): DPO applies the config itself so that the frozen
    base can serve as the reference model; other stages get an already wrapped PeftModel."""
    hp = spec.hyperparameters
    peft_cfg = None
    if spec.method == "full":
        model.requires_grad_(True)
    elif spec.method == "freeze":
        apply_freeze(model, hp)
        _upcast_trainable(model)
    else:
        if spec.method == "qlora":
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
        peft_cfg = lora_config(hp)
        if spec.stage != "dpo":
            from peft import get_peft_model

            try:
                model = get_peft_model(model, peft_cfg)
            except ValueError as exc:
                raise JobError(
                    f"lora_target={hp.lora_target!r} does not match this model's modules", str(exc)
                ) from exc
            peft_cfg = None
            if gradient_checkpointing:
                # Checkpointed blocks need an input that requires grad, or LoRA weights get no gradient.
                model.enable_input_require_grads()
    return model, peft_cfg


def _upcast_trainable(model: nn.Module) -> None:
    # Optimizer state and updates of half-precision weights lose small steps; LLaMA-Factory upcasts too.
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()


def count_parameters(model: nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
