"""Mounted at ``/api/v1/finetune/``: Bisheng's training-file endpoints."""

from django.urls import path

from .api import bisheng

urlpatterns = [
    path("job/file", bisheng.TrainingFileView.as_view(), name="bisheng-job-file"),
    path("job/file/preset", bisheng.PresetFileView.as_view(), name="bisheng-job-file-preset"),
    path("job/file/download", bisheng.FileDownloadView.as_view(), name="bisheng-job-file-download"),
]
