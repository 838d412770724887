"""Operators' view of every organization's datasets: upload (also global presets), mark presets, delete."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat

from llm_platform.errors import DomainError

from . import services
from .ingest import FORMATS
from .models import Dataset


class DatasetAddForm(forms.ModelForm):
    """Adding a dataset in the admin is an upload: the file goes through the same ingest as the portal's."""

    upload = forms.FileField(label="File")
    source_format = forms.ChoiceField(
        choices=[("", "Detect")] + [(f, f) for f in FORMATS], required=False, label="Format"
    )

    class Meta:
        model = Dataset
        fields = ["organization", "name", "description", "is_preset"]
        help_texts = {"organization": "Leave blank for a global preset shipped to every organization."}

    def __init__(self, *args, request=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.created = None
        self.fields["name"].required = False

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        org = data.get("organization")
        if org is None and not data.get("is_preset"):
            raise forms.ValidationError("A dataset without an organization must be a preset.")
        try:
            self.created = services.create_dataset(
                org,
                self.request.user,
                data["upload"],
                name=data.get("name") or "",
                description=data.get("description") or "",
                format=data.get("source_format") or None,
                is_preset=bool(data.get("is_preset")),
            )
        except DomainError as exc:
            self.add_error("upload", exc.message)
        return data


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "organization",
        "status",
        "kind",
        "format",
        "num_rows",
        "size",
        "is_preset",
        "preset_slug",
        "created_at",
    ]
    list_filter = ["status", "kind", "is_preset", "organization"]
    search_fields = ["name", "original_filename", "uid", "preset_slug", "organization__slug"]
    list_select_related = ["organization"]
    actions = ["mark_preset", "unmark_preset", "delete_datasets"]
    readonly_fields = [
        "uid",
        "organization",
        "status",
        "progress",
        "error_code",
        "error_message",
        "original_filename",
        "original_file",
        "normalised_file",
        "size_bytes",
        "sha256",
        "requested_format",
        "format",
        "kind",
        "options",
        "rows_in",
        "num_rows",
        "stats",
        "row_errors",
        "error_counts",
        "preset_slug",
        "has_placeholders",
        "created_by",
        "created_at",
        "updated_at",
    ]
    fields = ["name", "description", "is_preset", *readonly_fields]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)

        class RequestForm(DatasetAddForm):
            def __init__(self, *args, **inner):
                super().__init__(*args, request=request, **inner)

        return RequestForm

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["organization", "upload", "source_format", "name", "description", "is_preset"]
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = form.created
        obj.pk = created.pk
        obj.uid = created.uid
        obj.name = created.name
        if created.status != "ready":
            messages.info(request, f"{created.name} is being processed in the background.")

    def has_delete_permission(self, request, obj=None):
        # Deleting goes through the service (in-use check, stored files), via the action below.
        return False

    @admin.display(description="Size", ordering="size_bytes")
    def size(self, obj):
        return filesizeformat(obj.size_bytes)

    @admin.action(description="Mark selected datasets as presets (visible to every organization)")
    def mark_preset(self, request, queryset):
        updated = queryset.update(is_preset=True)
        self.message_user(request, f"{updated} dataset(s) are now presets.")

    @admin.action(description="Unmark selected presets (back to their organization only)")
    def unmark_preset(self, request, queryset):
        orphans = queryset.filter(organization__isnull=True)
        if orphans.exists():
            self.message_user(
                request,
                "Global presets have no organization to go back to; delete them instead: "
                + ", ".join(orphans.values_list("name", flat=True)),
                level=messages.ERROR,
            )
        updated = queryset.filter(organization__isnull=False).update(is_preset=False)
        self.message_user(request, f"{updated} dataset(s) are no longer presets.")

    @admin.action(description="Delete selected datasets and their files")
    def delete_datasets(self, request, queryset):
        deleted = 0
        for dataset in queryset:
            try:
                services.delete_dataset(dataset, None, operator=True)
                deleted += 1
            except DomainError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)
        self.message_user(request, f"Deleted {deleted} dataset(s).")
