from django.urls import path

from training_app import views

app_name = "training"
urlpatterns = [
    path("", views.job_list, name="list"),
    path("new/", views.job_create, name="new"),
    path("base-models/", views.base_models, name="base-models"),
    path("<int:pk>/", views.job_detail, name="detail"),
    path("<int:pk>/cancel/", views.job_cancel, name="cancel"),
    path("<int:pk>/retry/", views.job_retry, name="retry"),
    path("<int:pk>/clone/", views.job_clone, name="clone"),
    path("<int:pk>/rename/", views.job_rename, name="rename"),
    path("<int:pk>/delete/", views.job_delete, name="delete"),
    path("<int:pk>/files/<path:path>", views.job_artifact, name="artifact"),
]
