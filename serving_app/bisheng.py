"""Bisheng-compatible publishing: ``POST /api/v1/finetune/job/publish?job_id=`` and ``.../publish/cancel``.

Publishing answers at once with ``{model, endpoint, status}``; the job becomes Bisheng status 5
(published) when the deployment is ready, which ``job/info`` then shows.
"""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from llm_platform.bisheng import BishengAPIView, envelope, reply_schema
from llm_platform.errors import Conflict
from serving_app import services
from serving_app.conf import gateway_endpoint
from serving_app.models import Deployment, DeploymentSource
from training_app.bisheng import BISHENG_STATUS, JOB_ID, BishengJobIdSerializer, find_job
from training_app.models import TrainingJob


def answer(deployment: Deployment, job: TrainingJob, deployment_status: str | None = None) -> dict:
    job.refresh_from_db(fields=["status"])
    return {
        "job_id": job.uid.hex,
        "model": deployment.name,
        "endpoint": gateway_endpoint(),
        "status": BISHENG_STATUS[job.status],
        "deployment_status": deployment_status or deployment.status,
    }


PUBLISHED = inline_serializer(
    "BishengPublished",
    {
        "job_id": serializers.CharField(help_text="The job's uid, hex."),
        "model": serializers.CharField(help_text="The `model` to send to /v1."),
        "endpoint": serializers.CharField(help_text="The OpenAI base URL."),
        "status": serializers.IntegerField(help_text="The job's Bisheng status (5 once published)."),
        "deployment_status": serializers.CharField(),
    },
)


def publish_schema(name: str):
    return reply_schema(name, PUBLISHED, request=BishengJobIdSerializer, parameters=[JOB_ID])


class PublishView(BishengAPIView):
    @publish_schema("Publish")
    def post(self, request):
        job = find_job(self.org, request.query_params.get("job_id") or request.data.get("job_id"))
        deployment = job.deployments.filter(source=DeploymentSource.JOB).first()
        if deployment is None:  # publishing twice answers with the deployment that exists
            deployment = services.publish(self.org, request.user, job=job)
        return envelope(answer(deployment, job))


class PublishCancelView(BishengAPIView):
    @publish_schema("PublishCancel")
    def post(self, request):
        job = find_job(self.org, request.query_params.get("job_id") or request.data.get("job_id"))
        deployment = job.deployments.filter(source=DeploymentSource.JOB).first()
        if deployment is None:
            raise Conflict(f"{job.name} is not published.", fields={"job_id": "not published"})
        services.unpublish(deployment)
        return envelope(answer(deployment, job, "unpublished"))
