from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .api.views import DatasetViewSet

router = SimpleRouter()
router.register("datasets", DatasetViewSet, basename="dataset")

urlpatterns = [path("", include(router.urls))]
