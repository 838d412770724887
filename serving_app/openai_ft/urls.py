"""OpenAI's fine-tuning endpoints under ``/v1/`` (Django, not the lean gateway: uploads stream to disk)."""

from django.urls import re_path

from serving_app.openai_ft import views

# Ids may arrive percent-encoded or with any character the client put in them: the views look them up.
ID = r"(?P<{}>[^/]+)"
urlpatterns = [
    re_path(r"^files$", views.FilesView.as_view(), name="openai-files"),
    re_path(
        rf"^files/{ID.format('file_id')}/content$",
        views.FileContentView.as_view(),
        name="openai-file-content",
    ),
    re_path(rf"^files/{ID.format('file_id')}$", views.FileView.as_view(), name="openai-file"),
    re_path(r"^fine_tuning/jobs$", views.JobsView.as_view(), name="openai-jobs"),
    re_path(rf"^fine_tuning/jobs/{ID.format('job_id')}$", views.JobView.as_view(), name="openai-job"),
    *(
        re_path(
            rf"^fine_tuning/jobs/{ID.format('job_id')}/{action}$",
            views.JobActionView.as_view(action=action),
            name=f"openai-job-{action}",
        )
        for action in views.ACTIONS
    ),
    re_path(
        rf"^fine_tuning/jobs/{ID.format('job_id')}/events$",
        views.JobEventsView.as_view(),
        name="openai-job-events",
    ),
    re_path(
        rf"^fine_tuning/jobs/{ID.format('job_id')}/checkpoints$",
        views.JobCheckpointsView.as_view(),
        name="openai-job-checkpoints",
    ),
]
