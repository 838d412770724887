"""Merge a LoRA/DoRA adapter into its base model and export full weights (for engines without LoRA)."""

from __future__ import annotations

import json
from pathlib import Path


def merge_adapter(
    adapter_dir: str | Path,
    out_dir: str | Path,
    *,
    base_model_path: str | None = None,
    trust_remote_code: bool = False,
) -> Path:
    """Write base + adapter merged into ``out_dir`` (safetensors) with the adapter's tokenizer."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    base = base_model_path or config["base_model_name_or_path"]
    # Merge in fp32 so rounding of the sum W + BA does not depend on the training dtype.
    model = AutoModelForCausalLM.from_pretrained(
        base, dtype=torch.float32, trust_remote_code=trust_remote_code
    )
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir, safe_serialization=True)
    # The adapter directory holds the tokenizer with the chat template the model was trained with.
    has_tokenizer = (adapter_dir / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(
        adapter_dir if has_tokenizer else base, trust_remote_code=trust_remote_code
    )
    tokenizer.save_pretrained(out_dir)
    return out_dir
