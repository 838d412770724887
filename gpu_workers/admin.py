from django.contrib import admin, messages
from django.db import transaction

from gpu_workers.live import push_devices
from gpu_workers.models import Device, DeviceStatus
from gpu_workers.scheduler import schedule


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "name",
        "status",
        "drain",
        "memory_used_mb",
        "memory_total_mb",
        "utilization",
        "leased_job",
        "heartbeat_at",
    ]
    list_filter = ["status", "kind", "drain", "host"]
    search_fields = ["host", "name", "uuid"]
    readonly_fields = [
        "host",
        "kind",
        "index",
        "uuid",
        "name",
        "memory_total_mb",
        "memory_used_mb",
        "utilization",
        "status",
        "drain",
        "capabilities",
        "heartbeat_at",
        "worker_pid",
        "worker_token",
        "leased_job",
        "lease_expires_at",
        "lease_token",
    ]
    actions = ["drain_devices", "undrain_devices"]

    def has_add_permission(self, request):
        return False  # workers register devices

    @admin.action(description="Drain: finish the current job, take no more")
    def drain_devices(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        with transaction.atomic():
            Device.objects.filter(pk__in=ids).update(drain=True)
            Device.objects.filter(pk__in=ids).exclude(status=DeviceStatus.OFFLINE).update(
                status=DeviceStatus.DRAINING
            )
            push_devices(ids)
        messages.success(request, f"Draining {len(ids)} device(s): running jobs finish, no new job starts.")

    @admin.action(description="Undrain: take jobs again")
    def undrain_devices(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        with transaction.atomic():
            Device.objects.filter(pk__in=ids).update(drain=False)
            Device.objects.filter(pk__in=ids, status=DeviceStatus.DRAINING).update(status=DeviceStatus.ONLINE)
            push_devices(ids)
            transaction.on_commit(schedule)
        messages.success(request, f"{len(ids)} device(s) take jobs again.")
