"""ASGI entry point: the gateway (``/v1/``) lean, the rest of HTTP through Django, websockets through
Channels (session-authenticated)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "llm_platform.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up first
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from llm_platform.disconnect import watch  # noqa: E402
from llm_platform.routing import websocket_urlpatterns  # noqa: E402
from serving_app.gateway.asgi import application as gateway_app  # noqa: E402
from serving_app.gateway.asgi import is_gateway_path  # noqa: E402


async def http_app(scope, receive, send):
    """``/v1/`` skips Django's request cycle (see serving_app.gateway.asgi); everything else is Django's,
    which learns when its client hangs up (``llm_platform.disconnect``)."""
    if is_gateway_path(scope["path"]):
        return await gateway_app(scope, receive, send)
    return await django_asgi_app(scope, watch(scope, receive), send)


application = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
