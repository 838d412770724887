"""The portal's main navigation. A section appears once its app provides the named URL."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

SECTIONS = [
    ("Datasets", "datasets:list"),
    ("Knowledge bases", "datasets:kb-list"),
    ("Training", "training:list"),
    ("Deployments", "serving:list"),
    ("GPUs", "gpus:list"),
    ("API keys", "api-keys"),
]


def navigation(request) -> dict:
    items = []
    for label, url_name in SECTIONS:
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": request.path.startswith(url)})
    return {"nav_items": items}
