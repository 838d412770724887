from django.urls import re_path

from serving_app.gateway import views

# One view for every path under /v1/: ``handlers.route`` decides (the lean ASGI app routes the same way).
urlpatterns = [
    re_path(r"^(?P<path>.*)$", views.gateway, name="gateway"),
]
