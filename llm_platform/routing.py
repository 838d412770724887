"""Websocket routes of every app, collected in one list for the ASGI router."""

from django.urls import path

from llm_platform.consumers import OrganizationConsumer

websocket_urlpatterns = [
    path("ws/org/", OrganizationConsumer.as_asgi()),
]
