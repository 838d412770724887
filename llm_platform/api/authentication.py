"""API-key authentication: ``Authorization: Bearer tf_...``. The key decides the organization."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from llm_platform.models import ApiKey


class ApiKeyUser(AnonymousUser):
    """The principal behind an API key: authenticated, acting for the key's organization only."""

    def __init__(self, api_key: ApiKey):
        super().__init__()
        self.api_key = api_key
        self.username = f"api-key:{api_key.prefix}"

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def is_authenticated(self) -> bool:
        return True

    def __str__(self) -> str:
        return self.username


def bearer_token(header: str) -> str | None:
    parts = header.split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    return None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        token = bearer_token(header)
        if token is None:
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        api_key = ApiKey.authenticate(token)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        request.org = api_key.organization
        request.role = api_key.role
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request) -> str:
        return self.keyword


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the API key in the OpenAPI schema (Swagger UI's Authorize button)."""

    target_class = "llm_platform.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API key of your organization."}
