"""Demo content for ``manage.py bootstrap_demo``: the presets, and one small dataset of the demo org."""

from __future__ import annotations

import json

from django.core.files.base import ContentFile

from .models import Dataset
from .services import create_dataset, sync_presets

SAMPLE_NAME = "Support answers (sample)"
SAMPLE_ROWS = [
    {
        "instruction": "How do I reset my password?",
        "input": "",
        "output": "Open Settings → Account → Reset password, then follow the link we email you.",
    },
    {
        "instruction": "Can I export my data?",
        "input": "",
        "output": "Yes: Settings → Data → Export writes a ZIP of everything you stored.",
    },
    {
        "instruction": "Translate to English.",
        "input": "我们周一上午十点开会。",
        "output": "We meet on Monday at ten in the morning.",
    },
    {
        "instruction": "Summarise the ticket in one sentence.",
        "input": "The customer cannot log in since the update and already cleared the browser cache.",
        "output": "Since the update the customer cannot log in, even after clearing the cache.",
    },
    {
        "instruction": "怎样修改绑定的邮箱？",
        "input": "",
        "output": "进入「设置 → 账户 → 邮箱」，输入新邮箱并点击确认邮件中的链接即可。",
    },
    {
        "instruction": "Is there an API?",
        "input": "",
        "output": "Yes. Create an API key on the API keys page and send it as a Bearer token.",
        "history": [["Hi!", "Hello! How can I help?"]],
    },
]


def demo_setup(org, out) -> None:
    for dataset, outcome in sync_presets():
        out.write(f"preset {dataset.preset_slug}: {outcome}")
    if Dataset.objects.filter(organization=org, name=SAMPLE_NAME).exists():
        return
    body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in SAMPLE_ROWS).encode()
    dataset = create_dataset(org, None, ContentFile(body, name="support-sample.jsonl"), name=SAMPLE_NAME)
    out.write(f"sample dataset {dataset.name}: {dataset.num_rows} rows")
