from django import forms
from django.contrib import admin, messages

from llm_platform.errors import DomainError
from training_app import services
from training_app.base_models import check_base_model, register_base_model
from training_app.models import BaseModel, JobDataset, JobEvent, TrainingJob


class BaseModelForm(forms.ModelForm):
    """Refuses a model that would not work (a path outside MODEL_ROOTS, no tokenizer, no chat template):
    nothing is saved, and the field at fault says why."""

    class Meta:
        model = BaseModel
        fields = [
            "name",
            "path",
            "hub_id",
            "chat_template_source",
            "chat_template_name",
            "chat_template",
            "trust_remote_code",
            "enabled_for_all",
            "enabled_orgs",
            "organization",
        ]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            check_base_model(
                path=data.get("path") or "",
                hub_id=data.get("hub_id") or "",
                chat_template_source=data.get("chat_template_source") or "",
                chat_template_name=data.get("chat_template_name") or "",
                chat_template=data.get("chat_template") or "",
                trust_remote_code=bool(data.get("trust_remote_code")),
            )
        except DomainError as exc:
            fields = {name: message for name, message in (exc.fields or {}).items() if name in self.fields}
            for name, message in fields.items():
                self.add_error(name, message)
            raise forms.ValidationError(exc.message) from exc
        return data


@admin.register(BaseModel)
class BaseModelAdmin(admin.ModelAdmin):
    form = BaseModelForm
    list_display = [
        "name",
        "architecture",
        "parameter_count",
        "context_length",
        "chat_template_source",
        "trust_remote_code",
        "enabled_for_all",
        "organization",
        "is_valid",
    ]
    list_filter = ["enabled_for_all", "trust_remote_code", "is_valid", "chat_template_source", "architecture"]
    search_fields = ["name", "path", "hub_id"]
    filter_horizontal = ["enabled_orgs"]
    readonly_fields = [
        "architecture",
        "parameter_count",
        "context_length",
        "is_valid",
        "validation_error",
        "created_at",
        "source_job",
        "root_base",
    ]

    def save_model(self, request, obj, form, change):
        """Registration validates: the path is under MODEL_ROOTS and config + tokenizer load."""
        try:
            saved = register_base_model(
                obj.name,
                path=obj.path,
                hub_id=obj.hub_id,
                chat_template_source=obj.chat_template_source,
                chat_template_name=obj.chat_template_name,
                chat_template=obj.chat_template,
                trust_remote_code=obj.trust_remote_code,
                enabled_for_all=obj.enabled_for_all,
                organization=obj.organization,
            )
            obj.pk = saved.pk
        except DomainError as exc:
            # Checked by the form a moment ago; a model directory changed since is reported, not saved.
            messages.error(request, f"Not saved: {exc.message}")


class JobDatasetInline(admin.TabularInline):
    model = JobDataset
    extra = 0
    readonly_fields = ["dataset", "num_samples", "ratio", "dataset_sha256", "placeholders"]
    can_delete = False


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "organization",
        "status",
        "base_model",
        "stage",
        "method",
        "devices",
        "attempts",
        "current_step",
        "total_steps",
        "created_at",
    ]
    list_filter = ["status", "stage", "method", "organization"]
    search_fields = ["name", "uid", "organization__slug"]
    readonly_fields = [
        "uid",
        "status",
        "attempts",
        "created_at",
        "queued_at",
        "placed_at",
        "started_at",
        "finished_at",
        "current_step",
        "total_steps",
        "last_checkpoint_step",
        "last_seq",
        "artifacts_prefix",
        "artifacts",
        "report",
        "error",
        "worker",
        "rq_job_id",
    ]
    inlines = [JobDatasetInline]
    actions = ["cancel", "retry"]

    def _each(self, request, queryset, operation, verb):
        done = 0
        for job in queryset:
            try:
                operation(job)
                done += 1
            except DomainError as exc:
                messages.warning(request, f"{job.name}: {exc.message}")
        if done:
            messages.success(request, f"{verb} {done} job(s).")

    @admin.action(description="Cancel selected jobs")
    def cancel(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda job: services.cancel_job(job, reason="cancelled by an operator"),
            "Cancelled",
        )

    @admin.action(description="Retry selected jobs (resume from the last checkpoint)")
    def retry(self, request, queryset):
        self._each(request, queryset, services.retry_job, "Requeued")


@admin.register(JobEvent)
class JobEventAdmin(admin.ModelAdmin):
    list_display = ["job", "seq", "type", "level", "created_at"]
    list_filter = ["type", "level"]
    search_fields = ["job__name"]
    readonly_fields = ["job", "seq", "type", "level", "created_at", "payload"]
