from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from llm_platform.api import views

router = DefaultRouter()
router.register("api-keys", views.ApiKeyViewSet, basename="apikey")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("org/", views.CurrentOrganizationView.as_view(), name="api-org"),
    path("", include(router.urls)),
]
