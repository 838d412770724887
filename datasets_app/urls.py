from django.urls import path

from . import views

app_name = "datasets"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/preview/", views.preview, name="preview"),
    path("<int:pk>/progress/", views.progress, name="progress"),
    path("<int:pk>/download/<str:which>/", views.download, name="download"),
    path("<int:pk>/delete/", views.delete, name="delete"),
]
