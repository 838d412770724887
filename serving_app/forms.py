from __future__ import annotations

from django import forms

from llm_platform.tenancy import scoped
from serving_app.models import DeploymentSource
from training_app.models import BaseModel, JobEvent, JobStatus, TrainingJob

CHECKPOINT_CHOICES_LIMIT = 200


class PublishForm(forms.Form):
    source = forms.ChoiceField(
        choices=[
            ("job", "A succeeded job"),
            ("checkpoint", "A checkpoint of a job"),
            ("base", "A base model, as it is"),
        ],
        initial="job",
        widget=forms.RadioSelect,
    )
    job = forms.ModelChoiceField(
        queryset=TrainingJob.objects.none(), required=False, empty_label="Choose a job"
    )
    checkpoint = forms.ChoiceField(required=False)
    base_model = forms.ModelChoiceField(
        queryset=BaseModel.objects.none(), required=False, empty_label="Choose a base model"
    )
    name = forms.CharField(
        required=False,
        max_length=64,
        help_text="What you send as `model`; unique in your organization. Defaults to the job's name.",
    )
    engine = forms.ChoiceField(
        choices=[("auto", "Automatic"), ("vllm", "vLLM"), ("builtin", "Built-in (transformers)")],
        initial="auto",
        help_text="Automatic picks vLLM where it is installed.",
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        jobs = scoped(TrainingJob.objects.select_related("base_model"), org)
        self.fields["job"].queryset = jobs.filter(status=JobStatus.SUCCEEDED).exclude(
            deployments__source=DeploymentSource.JOB
        )
        self.fields["base_model"].queryset = scoped(BaseModel.objects.filter(is_valid=True), org).distinct()
        events = (
            JobEvent.objects.filter(job__in=jobs, type="checkpoint")
            .select_related("job")
            .order_by("-job__created_at", "-seq")[:CHECKPOINT_CHOICES_LIMIT]
        )
        self.fields["checkpoint"].choices = [("", "Choose a checkpoint")] + [
            (f"{e.job_id}:{e.payload.get('step')}", f"{e.job.name} · step {e.payload.get('step')}")
            for e in events
            if e.payload.get("step") is not None
        ]

    def clean(self):
        data = super().clean()
        source = data.get("source")
        if source == "job" and not data.get("job"):
            self.add_error("job", "Choose the job to publish.")
        if source == "checkpoint":
            if not data.get("checkpoint"):
                self.add_error("checkpoint", "Choose the checkpoint to publish.")
            else:
                job_id, step = data["checkpoint"].split(":")
                data["checkpoint_job"] = TrainingJob.objects.get(pk=int(job_id))  # one of the choices: scoped
                data["checkpoint_step"] = int(step)
        if source == "base" and not data.get("base_model"):
            self.add_error("base_model", "Choose the base model to publish.")
        return data
