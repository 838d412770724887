"""Which engine answers a request: the caller's organization, then its deployment of that name.

Everything here is synchronous ORM work, called once per request through ``sync_to_async``. A name
resolves only inside the caller's organization, so another organization's model is a plain 404.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_platform.api.authentication import bearer_token
from llm_platform.models import ApiKey, Organization
from serving_app.gateway.errors import GatewayError, model_not_found
from serving_app.models import Deployment, DeploymentStatus, EngineStatus


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


def authenticate(header: str) -> Organization:
    if not header:
        raise missing_key()
    token = bearer_token(header)
    api_key = ApiKey.authenticate(token) if token else None
    if api_key is None:
        raise GatewayError(401, "Incorrect or revoked API key provided.", code="invalid_api_key")
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


# The hot path reads only these columns (an engine row also holds its log tail and command line).
_TARGET_FIELDS = (
    "pk",
    "organization_id",
    "name",
    "status",
    "error",
    "engine_name",
    "base_model__name",
    "engine__status",
    "engine__base_url",
    "engine__api_key",
    "engine__model_name",
)


def resolve(org: Organization, name) -> Target:
    if not isinstance(name, str) or not name:
        raise GatewayError(400, "Give the model to use in 'model'.", param="model", code="missing_model")
    row = Deployment.objects.filter(organization=org, name=name).values(*_TARGET_FIELDS).first()
    if row is None:
        raise model_not_found(name)
    return _target(row)


def authenticate_and_resolve(header: str, name) -> Target:
    """One trip to the database thread for the hot path: the key, then the model."""
    return resolve(authenticate(header), name)


def list_models(header: str) -> list[dict]:
    org = authenticate(header)
    deployments = Deployment.objects.filter(organization=org).order_by("name")
    return [model_entry(d, org) for d in deployments]


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
    if deployment is None:
        raise model_not_found(name)
    return model_entry(deployment, org)
