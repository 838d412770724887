from django.urls import path

from . import views
from .knowledge import views as knowledge

app_name = "datasets"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("upload/", views.upload, name="upload"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/preview/", views.preview, name="preview"),
    path("<int:pk>/progress/", views.progress, name="progress"),
    path("<int:pk>/download/<str:which>/", views.download, name="download"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("knowledge/", knowledge.kb_list, name="kb-list"),
    path("knowledge/<int:pk>/", knowledge.kb_detail, name="kb-detail"),
    path("knowledge/<int:pk>/upload/", knowledge.kb_upload, name="kb-upload"),
    path("knowledge/<int:pk>/extract/", knowledge.kb_extract, name="kb-extract"),
    path("knowledge/<int:pk>/endpoint/", knowledge.kb_endpoint, name="kb-endpoint"),
    path("knowledge/<int:pk>/export/", knowledge.kb_export, name="kb-export"),
    path("knowledge/<int:pk>/review/", knowledge.kb_review, name="kb-review"),
    path("knowledge/<int:pk>/accept-all/", knowledge.kb_accept_all, name="kb-accept-all"),
    path("knowledge/<int:pk>/pairs/<int:pair_id>/", knowledge.pair_update, name="kb-pair"),
]
