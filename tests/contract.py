"""The tenancy contract every endpoint must honour (NetBox's shared API tests, healthchecks' actors).

``assert_tenant_contract`` checks one URL for: anonymous -> 401 (API) or a login redirect (portal);
outsider -> 404; viewer writing -> 403; and that none of those changed anything.
"""

from __future__ import annotations

from collections.abc import Callable


def assert_tenant_contract(
    url: str,
    *,
    anon,
    outsider,
    viewer=None,
    method: str = "get",
    data: dict | None = None,
    portal: bool = False,
    unchanged: Callable[[], object] | None = None,
    fmt: str | None = "json",
) -> None:
    before = unchanged() if unchanged else None
    kwargs = {"data": data} if data is not None else {}
    if fmt and not portal and method != "get":
        kwargs["format"] = fmt

    response = getattr(anon, method)(url, **kwargs)
    if portal:
        assert response.status_code in (302, 403), f"anonymous {method.upper()} {url}: {response.status_code}"
        if response.status_code == 302:
            assert "/login/" in response["Location"]
    else:
        assert response.status_code in (401, 403), f"anonymous {method.upper()} {url}: {response.status_code}"

    response = getattr(outsider, method)(url, **kwargs)
    assert response.status_code == 404, f"outsider {method.upper()} {url}: {response.status_code}"

    if viewer is not None and method != "get":
        response = getattr(viewer, method)(url, **kwargs)
        assert response.status_code == 403, f"viewer {method.upper()} {url}: {response.status_code}"

    if unchanged:
        assert unchanged() == before, f"{method.upper()} {url} changed state for a refused caller"
