from django.urls import path

from serving_app.api.usage import UsageView
from serving_app.usage_page import usage

urlpatterns = [
    path("usage/", usage, name="usage"),
    path("api/usage/", UsageView.as_view(), name="api-usage"),
]
