from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .api.views import DatasetViewSet
from .knowledge.api.views import (
    ExtractionRunViewSet,
    KnowledgeBaseViewSet,
    KnowledgeDocumentViewSet,
    QAPairViewSet,
)

router = SimpleRouter()
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("knowledge-bases", KnowledgeBaseViewSet, basename="knowledge-base")
router.register("knowledge-documents", KnowledgeDocumentViewSet, basename="knowledge-document")
router.register("extraction-runs", ExtractionRunViewSet, basename="extraction-run")
router.register("qa-pairs", QAPairViewSet, basename="qa-pair")

urlpatterns = [path("", include(router.urls))]
