from django.contrib import admin

from gpu_workers.models import Device, DeviceStatus


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
        "capabilities",
        "heartbeat_at",
        "worker_pid",
        "leased_job",
        "lease_expires_at",
    ]
    actions = ["drain_devices", "undrain_devices"]

    @admin.action(description="Drain: finish the current job, take no more")
    def drain_devices(self, request, queryset):
        queryset.update(drain=True, status=DeviceStatus.DRAINING)

    @admin.action(description="Undrain: take jobs again")
    def undrain_devices(self, request, queryset):
        queryset.update(drain=False)
        queryset.filter(status=DeviceStatus.DRAINING).update(status=DeviceStatus.ONLINE)
