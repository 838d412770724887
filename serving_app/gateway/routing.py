"""Which engine answers a request: the caller's organization, then its deployment of that name.

Everything here is synchronous database work, called once per request through ``sync_to_async``. A name
resolves only inside the caller's organization, so another organization's model is a plain 404.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass

from django.db import connection

from llm_platform.api.authentication import bearer_token
from llm_platform.errors import DomainError
from llm_platform.models import ApiKey, Organization, Scope, scope_granted
from serving_app.gateway.errors import GatewayError, model_not_found, permission_denied
from serving_app.models import Deployment, DeploymentStatus, Engine, EngineStatus
from serving_app.openai_ft import callable as fine_tuned


@dataclass(frozen=True)
class Target:
    org_id: int
    deployment_id: int | None
    served_name: str  # what the caller calls the model (and sees in answers)
    engine_model: str  # what the engine calls it: namespaced, never shown
    base_url: str
    api_key: str
    usage_name: str


def missing_key() -> GatewayError:
    return GatewayError(
        401, "You didn't provide an API key. Use 'Authorization: Bearer <api key>'.", code="invalid_api_key"
    )


def invalid_key() -> GatewayError:
    return GatewayError(401, "Incorrect or revoked API key provided.", code="invalid_api_key")


def no_inference() -> GatewayError:
    return permission_denied(
        "This API key may not call models: it lacks the 'inference' scope, or it is read-only."
        " Create a key with the 'inference' scope in the portal."
    )


def authenticate(header: str) -> Organization:
    """The key's organization, for listing models: a read (or an inference) scope is enough."""
    if not header:
        raise missing_key()
    token = bearer_token(header)
    api_key = ApiKey.authenticate(token) if token else None
    if api_key is None:
        raise invalid_key()
    if not (api_key.allows(Scope.INFERENCE) or api_key.allows(Scope.READ)):
        raise permission_denied("This API key may not list models: it has neither 'read' nor 'inference'.")
    return api_key.organization


def target_of(deployment: Deployment, *, base: bool = False) -> Target:
    """Where a ready deployment (or, with ``base``, its base model in the same engine) is answered."""
    engine = deployment.engine
    row = {
        "pk": deployment.pk,
        "organization_id": deployment.organization_id,
        "name": deployment.name,
        "status": deployment.status,
        "error": deployment.error,
        "engine_name": deployment.engine_name,
        "base_model__name": deployment.base_model.name,
        "engine__status": engine.status,
        "engine__base_url": engine.base_url,
        "engine__api_key": engine.api_key,
        "engine__model_name": engine.model_name,
    }
    return _target(row, base=base)


def _target(row: dict, *, base: bool = False) -> Target:
    name = row["name"]
    if row["status"] == DeploymentStatus.FAILED:
        raise GatewayError(
            503,
            f"The model `{name}` failed to start: {row['error'] or 'see its deployment page'}",
            type="server_error",
            code="model_failed",
        )
    ready = row["engine__status"] == EngineStatus.READY and row["engine__base_url"]
    if row["status"] != DeploymentStatus.READY or not ready:
        raise GatewayError(
            503,
            f"The model `{name}` is starting; try again in a moment.",
            type="server_error",
            code="model_not_ready",
            retry_after=5,
        )
    base_name = row["base_model__name"]
    return Target(
        org_id=row["organization_id"],
        deployment_id=None if base else row["pk"],
        served_name=base_name if base else name,
        engine_model=row["engine__model_name"] if base else row["engine_name"],
        base_url=row["engine__base_url"],
        api_key=row["engine__api_key"],
        usage_name=base_name if base else name,
    )


# The hot path: a completion's key and model in one statement. Django's ORM would spend more CPU building
# the two queries than the database spends answering them, so the SQL is built once from the models'
# metadata (names follow the models) and sent as it is; ``target_of`` is the same answer from ORM objects.
# Each column: (its key in the row ``_target`` reads, table alias, field); aliases k: the API key,
# d: the deployment, b: its base model, e: its engine.
_HOT_COLUMNS = (
    ("key_id", "k", "id"),
    ("key_hash", "k", "key_hash"),
    ("key_role", "k", "role"),
    ("key_scopes", "k", "scopes"),
    ("organization_id", "k", "organization"),
    ("pk", "d", "id"),
    ("name", "d", "name"),
    ("status", "d", "status"),
    ("error", "d", "error"),
    ("engine_name", "d", "engine_name"),
    ("base_model__name", "b", "name"),
    ("engine__status", "e", "status"),
    ("engine__base_url", "e", "base_url"),
    ("engine__api_key", "e", "api_key"),
    ("engine__model_name", "e", "model_name"),
)


@functools.cache
def _hot_sql() -> str:
    from training_app.models import BaseModel

    models = {"k": ApiKey, "d": Deployment, "b": BaseModel, "e": Engine}

    def table(alias: str) -> str:
        return f"{connection.ops.quote_name(models[alias]._meta.db_table)} {alias}"

    def column(alias: str, field: str) -> str:
        return f"{alias}.{connection.ops.quote_name(models[alias]._meta.get_field(field).column)}"

    selected = ", ".join(column(alias, field) for _, alias, field in _HOT_COLUMNS)
    # Only names from the models' metadata are formatted in; the values are parameters.
    return (
        f"SELECT {selected} FROM {table('k')}"  # noqa: S608
        f" LEFT JOIN {table('d')} ON {column('d', 'organization')} = {column('k', 'organization')}"
        f" AND {column('d', 'name')} = %s"
        f" LEFT JOIN {table('b')} ON {column('b', 'id')} = {column('d', 'base_model')}"
        f" LEFT JOIN {table('e')} ON {column('e', 'id')} = {column('d', 'engine')}"
        f" WHERE {column('k', 'prefix')} = %s AND {column('k', 'revoked_at')} IS NULL"
    )


_last_touched: dict[str, float] = {}


def _touch(key_id: int, key_hash: str) -> None:
    """The key's last-used time, written at most once per ApiKey.LAST_USED_EVERY in this process (keyed by
    the unique hash: the hot path does not read the stored time)."""
    now = time.monotonic()
    if now - _last_touched.get(key_hash, -ApiKey.LAST_USED_EVERY) >= ApiKey.LAST_USED_EVERY:
        _last_touched[key_hash] = now
        ApiKey.touch(key_id)


def authenticate_and_resolve(header: str, name) -> Target:
    """The caller's key, then its organization's model of that name: one statement, one round trip."""
    if not header:
        raise missing_key()
    token = bearer_token(header)
    prefix = ApiKey.prefix_of(token) if token else None
    row = None
    if prefix is not None:
        with connection.cursor() as cursor:
            cursor.execute(_hot_sql(), [name if isinstance(name, str) else "", prefix])
            found = cursor.fetchone()
        if found is not None and ApiKey.hash_matches(token, found[1]):
            row = dict(zip((key for key, *_ in _HOT_COLUMNS), found, strict=True))
    if row is None:
        raise invalid_key()
    _touch(row["key_id"], row["key_hash"])
    # Before the model is looked at: a refusal says nothing about which models exist.
    if not scope_granted(row["key_role"], row["key_scopes"], Scope.INFERENCE):
        raise no_inference()
    if not isinstance(name, str) or not name:
        raise GatewayError(400, "Give the model to use in 'model'.", param="model", code="missing_model")
    if row["pk"] is None:
        return _fine_tuned_target(row["organization_id"], name)
    return _target(row)


def _fine_tuned_target(org_id: int, name: str) -> Target:
    """A succeeded job's ``ft:`` model, published on first use (the gateway waits while it loads)."""
    try:
        deployment = fine_tuned.ensure_deployment(org_id, name) if name.startswith("ft:") else None
    except DomainError as exc:
        raise GatewayError(
            404, f"The model `{name}` cannot be loaded: {exc.message}", param="model", code="model_not_found"
        ) from None
    if deployment is None:
        raise model_not_found(name)
    return dataclasses.replace(target_of(deployment), served_name=name, usage_name=name)


def list_models(header: str) -> list[dict]:
    org = authenticate(header)
    deployments = Deployment.objects.filter(organization=org).order_by("name")
    entries = [model_entry(d, org) for d in deployments]
    for name, created in fine_tuned.served_names(org):
        entries.append(
            {
                "id": name,
                "object": "model",
                "created": int(created.timestamp()),
                "owned_by": org.slug,
                "status": "ready",
            }
        )
    return entries


def model_entry(deployment: Deployment, org: Organization) -> dict:
    return {
        "id": deployment.name,
        "object": "model",
        "created": int(deployment.created_at.timestamp()),
        "owned_by": org.slug,
        "status": deployment.status,
    }


def retrieve_model(header: str, name: str) -> dict:
    org = authenticate(header)
    deployment = Deployment.objects.filter(organization=org, name=name).first()
    if deployment is not None:
        return model_entry(deployment, org)
    for served, created in fine_tuned.served_names(org):
        if served == name:
            return {
                "id": name,
                "object": "model",
                "created": int(created.timestamp()),
                "owned_by": org.slug,
                "status": "ready",
            }
    raise model_not_found(name)
