"""Websocket routes of every app, collected in one list for the ASGI router."""

from django.urls import path

from llm_platform.consumers import OrganizationConsumer
from training_app.consumers import JobConsumer

websocket_urlpatterns = [
    path("ws/org/", OrganizationConsumer.as_asgi()),
    path("ws/jobs/<int:job_id>/", JobConsumer.as_asgi()),
]
