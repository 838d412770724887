from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from llm_platform.api import teams, views

router = DefaultRouter()
router.register("api-keys", views.ApiKeyViewSet, basename="apikey")
router.register("members", teams.MemberViewSet, basename="member")
router.register("invitations", teams.InvitationViewSet, basename="invitation")
router.register("audit", teams.AuditViewSet, basename="audit")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("org/", views.CurrentOrganizationView.as_view(), name="api-org"),
    path("invitations/accept/", teams.AcceptInvitationView.as_view(), name="api-invitation-accept"),
    path("", include(router.urls)),
]
