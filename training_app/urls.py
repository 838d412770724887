from django.urls import path

from training_app import views
from training_app.compare import compare_jobs
from training_app.log_view import job_log

app_name = "training"
urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", views.job_create, name="new"),
    path("demo/", views.demo_job, name="demo"),
    path("base-models/", views.base_models, name="base-models"),
    path("compare/", compare_jobs, name="compare"),
    path("<int:pk>/", views.job_detail, name="detail"),
    path("<int:pk>/log/", job_log, name="log"),
    path("<int:pk>/cancel/", views.job_cancel, name="cancel"),
    path("<int:pk>/retry/", views.job_retry, name="retry"),
    path("<int:pk>/clone/", views.job_clone, name="clone"),
    path("<int:pk>/rename/", views.job_rename, name="rename"),
    path("<int:pk>/delete/", views.job_delete, name="delete"),
    path("<int:pk>/export/", views.job_export, name="export"),
    path("<int:pk>/register-base/", views.job_register_base, name="register-base"),
    path("<int:pk>/files/<path:path>", views.job_artifact, name="artifact"),
]
