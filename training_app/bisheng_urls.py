from django.urls import path

from gpu_workers.bisheng import GpuListView
from training_app import bisheng

urlpatterns = [
    path("job", bisheng.JobView.as_view(), name="bisheng-job"),
    path("job/info", bisheng.JobInfoView.as_view(), name="bisheng-job-info"),
    path("job/cancel", bisheng.JobActionView.as_view(operation="cancel"), name="bisheng-job-cancel"),
    path("job/retry", bisheng.JobActionView.as_view(operation="retry"), name="bisheng-job-retry"),
    path("job/model", bisheng.JobRenameView.as_view(), name="bisheng-job-rename"),
    path("model/list", bisheng.ModelListView.as_view(), name="bisheng-model-list"),
    path("gpu", GpuListView.as_view(), name="bisheng-gpu"),
]
