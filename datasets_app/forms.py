from __future__ import annotations

from django import forms

from llm_platform.errors import DomainError
from llm_platform.input_guard import COLUMN_INT_MAX
from llm_platform.tenancy import scoped

from .ingest import FORMATS
from .services import parse_mapping

TEXT_SPLIT_CHOICES = [
    ("auto", "Automatic (shown after upload)"),
    ("line", "One document per line"),
    ("paragraph", "One document per paragraph (blank lines between)"),
    ("file", "The whole file is one document"),
]
MAPPING_EXAMPLE = '{"columns": {"prompt": "question", "response": "answer"}}'


class DatasetUploadForm(forms.Form):
    """The portal's upload form; its cleaned data are ``services.create_dataset``'s keyword arguments."""

    file = forms.FileField(
        help_text="JSON, JSON lines (.jsonl, .jsonl.gz) or plain text (.txt, cut into documents as chosen below)."
    )
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the file name.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    format = forms.ChoiceField(
        choices=[("", "Detect from the first rows")] + [(f, f) for f in FORMATS],
        required=False,
        help_text="alpaca, sharegpt, openai chat, alternating turns (a list of strings), preference pairs "
        "(DPO), unpaired preference (KTO: one answer with a true/false label) or plain text.",
    )
    text_split = forms.ChoiceField(
        choices=TEXT_SPLIT_CHOICES,
        initial="auto",
        required=False,
        label="Plain-text documents",
        help_text="How a .txt file is cut into documents. Automatic: per paragraph when the file has blank "
        "lines, one per line when its lines are paragraph-long, else the whole file.",
    )
    mapping = forms.CharField(
        required=False,
        label="Column mapping (JSON)",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": MAPPING_EXAMPLE, "spellcheck": "false"}),
        help_text="Only when your columns have other names, as in LLaMA-Factory's dataset_info.json.",
    )
    policy = forms.ChoiceField(
        choices=[
            ("drop", "Drop bad rows (refuse the file when over 10% are bad)"),
            ("reject", "Reject the file at the first bad row"),
        ],
        initial="drop",
    )
    trim = forms.BooleanField(required=False, initial=True, label="Trim whitespace")
    drop_empty = forms.BooleanField(required=False, initial=True, label="Drop empty turns")
    dedupe = forms.BooleanField(required=False, initial=True, label="Remove exact duplicates")
    max_sample_chars = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=COLUMN_INT_MAX,
        label="Longest sample (characters)",
        help_text="Longer rows are dropped.",
    )
    tokenizer = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        label="Count tokens with",
        help_text="A base model's tokenizer (optional).",
    )

    def __init__(self, *args, org=None, **kwargs):
        super().__init__(*args, **kwargs)
        from training_app.models import BaseModel

        models = scoped(BaseModel.objects.exclude(path=""), org).distinct().order_by("name")
        self.fields["tokenizer"].choices = [("", "No token counts")] + [(m.pk, m.name) for m in models]

    def clean_mapping(self):
        try:
            return parse_mapping(self.cleaned_data["mapping"])
        except DomainError as exc:
            raise forms.ValidationError(exc.message) from None

    def service_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("file")
        data["format"] = data["format"] or None
        data["text_split"] = data["text_split"] or "auto"
        return data
