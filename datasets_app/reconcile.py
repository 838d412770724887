"""Datasets whose background processing was lost are queued again.

A large upload is committed as ``uploaded`` and handed to an RQ worker. Two things can lose it: Redis
forgets the queued job (flushed, or restarted without persistence), or the worker dies while the dataset
is ``processing``. Either way the dataset would wait forever. The reconciler (run periodically by the GPU
workers, and by ``manage.py reconcile``) finds datasets unchanged for ``DATASET_STALL_SECONDS`` whose RQ
job is neither queued nor running, puts them back to ``uploaded`` and queues them again; processing starts
from the stored original, so running it again is safe.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import django_rq
from django.conf import settings
from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import JobStatus as RQStatus
from rq.registry import StartedJobRegistry

from .models import Dataset, DatasetStatus

logger = logging.getLogger(__name__)
ALIVE = {RQStatus.QUEUED, RQStatus.STARTED, RQStatus.DEFERRED, RQStatus.SCHEDULED}


def stall_seconds() -> float:
    return float(settings.DATASET_STALL_SECONDS)


def rq_job_id(dataset: Dataset) -> str:
    """The RQ job id of a dataset's processing: fixed, so the reconciler can look it up."""
    return f"dataset-{dataset.uid}"


def requeue_stalled_datasets() -> list[int]:
    """Queue again every dataset whose processing was lost; returns their ids."""
    from .services import QUEUE, enqueue_processing

    now = timezone.now()
    stalled = Dataset.objects.filter(
        status__in=[DatasetStatus.UPLOADED, DatasetStatus.PROCESSING],
        updated_at__lt=now - timedelta(seconds=stall_seconds()),
    )
    if not stalled.exists():
        return []
    try:
        queue = django_rq.get_queue(QUEUE)
        StartedJobRegistry(queue=queue).cleanup()  # jobs of workers that died are failed now
    except RedisError:
        logger.warning("Redis is unreachable: stalled datasets wait for the next reconcile")
        return []
    requeued = []
    for dataset in stalled:
        try:
            job = queue.fetch_job(rq_job_id(dataset))
            if job is not None and job.get_status(refresh=True) in ALIVE:
                continue  # still queued or running (a slow worker, or a long queue)
        except RedisError:
            return requeued
        reset = Dataset.objects.filter(pk=dataset.pk, status=dataset.status, updated_at=dataset.updated_at)
        if reset.update(status=DatasetStatus.UPLOADED, progress=0.0, updated_at=now):
            logger.warning("dataset %s was %s with no live RQ job: queued again", dataset.pk, dataset.status)
            enqueue_processing(dataset)
            requeued.append(dataset.pk)
    return requeued
