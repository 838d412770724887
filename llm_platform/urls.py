from django.contrib import admin
from django.urls import include, path

from llm_platform.portal import teams
from llm_platform.portal import views as portal

handler404 = "llm_platform.api.errors.page_not_found"

urlpatterns = [
    path("", portal.home, name="home"),
    path("login/", portal.LoginView.as_view(), name="login"),
    path("logout/", portal.LogoutView.as_view(), name="logout"),
    path("orgs/switch/", portal.switch_org, name="switch-org"),
    path("api-keys/", portal.api_keys, name="api-keys"),
    path("api-keys/<int:pk>/revoke/", portal.revoke_api_key, name="api-key-revoke"),
    path("members/", teams.member_list, name="members"),
    path("members/<int:pk>/role/", teams.member_role, name="member-role"),
    path("members/<int:pk>/remove/", teams.member_remove, name="member-remove"),
    path("members/<int:pk>/transfer/", teams.member_transfer, name="member-transfer"),
    path("invitations/<int:pk>/revoke/", teams.invitation_revoke, name="invitation-revoke"),
    path("invitations/<str:token>/", teams.invitation_accept, name="invitation-accept"),
    path("audit/", teams.audit_log, name="audit"),
    path("", include("serving_app.usage_urls")),
    path("orgs/new/", teams.new_organization, name="new-org"),
    path("signup/", teams.signup, name="signup"),
    path("datasets/", include("datasets_app.urls")),
    path("healthz", portal.healthz, name="healthz"),
    path("admin/django-rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("training/", include("training_app.urls")),
    path("gpus/", include("gpu_workers.urls")),
    path("deployments/", include("serving_app.urls")),
    path("v1/", include("serving_app.openai_ft.urls")),  # before the gateway's catch-all
    path("v1/", include("serving_app.gateway.urls")),
    # Bisheng's job/publish routes come before the generic job routes.
    path("api/v1/finetune/", include("serving_app.bisheng_urls")),
    path("api/v1/finetune/", include("training_app.bisheng_urls")),
    path("api/", include("training_app.api_urls")),
    path("api/", include("serving_app.api_urls")),
    path("api/", include("gpu_workers.api_urls")),
    path("api/v1/finetune/", include("datasets_app.bisheng_urls")),
    path("api/", include("datasets_app.api_urls")),
    path("api/", include("llm_platform.api.urls")),
]
