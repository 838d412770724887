from django.contrib import admin

from serving_app.models import Deployment, Engine, Usage


@admin.register(Engine)
class EngineAdmin(admin.ModelAdmin):
    """Operators may tune an engine's flags; the supervisor restarts it with them on its next start."""

    list_display = ["key", "kind", "device", "status", "host", "pid", "port", "restarts", "ready_at"]
    list_filter = ["kind", "status", "device"]
    search_fields = ["key", "model_name"]
    fields = [
        "key",
        "kind",
        "device",
        "base_model",
        "model_name",
        "enable_lora",
        "max_model_len",
        "gpu_memory_utilization",
        "dtype",
        "status",
        "host",
        "pid",
        "port",
        "base_url",
        "restarts",
        "last_exit_code",
        "error",
        "argv",
        "log_tail",
        "started_at",
        "ready_at",
    ]
    readonly_fields = [f for f in fields if f not in ("max_model_len", "gpu_memory_utilization", "dtype")]


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "status", "source", "job", "base_model", "engine", "created_at"]
    list_filter = ["status", "source", "organization"]
    search_fields = ["name", "engine_name", "organization__slug"]
    readonly_fields = [f.name for f in Deployment._meta.fields]


@admin.register(Usage)
class UsageAdmin(admin.ModelAdmin):
    list_display = ["day", "organization", "model", "requests", "prompt_tokens", "completion_tokens"]
    list_filter = ["day", "organization"]
    search_fields = ["model"]
