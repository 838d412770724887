"""A job from the API to a trained artifact, through the scheduler, a real RQ worker and the trainer."""

import json

import pytest

from tests.workers import wait_for
from training_app.models import JobEvent, JobStatus, TrainingJob

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAST = {
    "max_steps": 24,
    "learning_rate": 3e-3,
    "logging_steps": 2,
    "save_steps": 8,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 1,
    "max_seq_len": 64,
    "lr_scheduler_type": "constant",
    "max_eval_samples": 4,
    "eval_max_new_tokens": 8,
}


def wait_status(job_id, statuses, timeout=240):
    return wait_for(
        lambda: TrainingJob.objects.filter(pk=job_id, status__in=statuses).first(),
        timeout=timeout,
        message=f"job {job_id} to reach {statuses}",
    )


def losses(job_id):
    return [
        (e.payload["step"], e.payload["loss"])
        for e in JobEvent.objects.filter(job_id=job_id, type="metric").order_by("seq")
        if e.payload.get("loss") is not None
    ]


def test_lora_job_trains_on_a_real_worker_and_stores_its_adapter(workers, alice_api, tiny_model, qa_dataset):
    workers.start("cpu")
    body = {
        "name": "lora-run",
        "base_model": "tiny-llama",
        "method": "lora",
        "devices": "cpu",
        "datasets": [{"dataset": f"dataset://{qa_dataset.uid}"}],
        "hyperparameters": {**FAST, "val_ratio": 0.125},
    }
    response = alice_api.post("/api/jobs/", body, format="json")
    assert response.status_code == 201, response.json()
    job = wait_status(response.json()["id"], [JobStatus.SUCCEEDED, JobStatus.FAILED])
    assert job.status == JobStatus.SUCCEEDED, job.error
    statuses = [e.payload["to"] for e in JobEvent.objects.filter(job=job, type="status").order_by("seq")]
    assert statuses == ["queued", "running", "succeeded"]
    seqs = list(JobEvent.objects.filter(job=job).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    points = losses(job.pk)
    assert len(points) >= 5
    assert points[-1][1] < points[0][1]
    assert JobEvent.objects.filter(job=job, type="checkpoint").exists()
    files = {f["path"] for f in job.artifacts["files"]}
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} <= files
    assert "predict_bleu-4" in job.report and "rouge_l" in job.report
    from gpu_workers.models import Device

    # The runner frees the slot right after it records the final status.
    wait_for(
        lambda: Device.objects.get(kind="cpu").leased_job is None, timeout=10, message="the slot to be freed"
    )
    download = alice_api.get(f"/training/{job.pk}/files/adapter_config.json")
    assert download.status_code == 200
    # Where the base model lies stays on the servers: the outputs and the record name the model.
    assert json.loads(b"".join(download.streaming_content))["base_model_name_or_path"] == "tiny-llama"
    card = b"".join(alice_api.get(f"/training/{job.pk}/files/README.md").streaming_content).decode()
    assert card.startswith("---\nbase_model: tiny-llama\n") and f"# {job.name}" in card
    assert f"- {qa_dataset.name} (version `{qa_dataset.sha256[:12]}`" in card and "| BLEU-4 |" in card
    assert "PeftModel.from_pretrained" in card and tiny_model.path not in card
    trainer_report = alice_api.get(f"/training/{job.pk}/files/trainer_report.json")
    assert json.loads(b"".join(trainer_report.streaming_content))["base_model"] == "tiny-llama"
    recorded = json.dumps(list(JobEvent.objects.filter(job=job).values_list("payload", flat=True)))
    assert tiny_model.path not in recorded + json.dumps(job.report)


def test_cancel_after_a_checkpoint_then_retry_resumes_with_continuous_steps(
    workers,
    alice_api,
    tiny_model,
    qa_dataset,
):
    workers.start("cpu")
    hp = {**FAST, "max_steps": 400, "save_steps": 5, "logging_steps": 1, "do_eval_generation": False}
    body = {
        "name": "resumable",
        "base_model": "tiny-llama",
        "method": "lora",
        "devices": "cpu",
        "datasets": [{"dataset": str(qa_dataset.pk)}],
        "hyperparameters": hp,
    }
    job_id = alice_api.post("/api/jobs/", body, format="json").json()["id"]
    wait_for(
        lambda: JobEvent.objects.filter(job_id=job_id, type="checkpoint").exists(),
        timeout=240,
        message="a first checkpoint",
    )
    assert alice_api.post(f"/api/jobs/{job_id}/cancel/").status_code == 200
    wait_for(
        lambda: TrainingJob.objects.get(pk=job_id).leased_devices.count() == 0,
        timeout=10,
        message="the device to be freed",
    )
    first_run = [step for step, _ in losses(job_id)]
    checkpoint = TrainingJob.objects.get(pk=job_id).last_checkpoint_step
    # The answer reads the job after the retry committed: a free worker may have started it already.
    assert alice_api.post(f"/api/jobs/{job_id}/retry/").json()["status"] in ("queued", "running")
    job = wait_status(job_id, [JobStatus.SUCCEEDED, JobStatus.FAILED])
    assert job.status == JobStatus.SUCCEEDED, job.error
    steps = [step for step, _ in losses(job_id)]
    assert steps == sorted(set(steps)), "a step was recorded twice or out of order"
    assert steps[-1] == 400, str(steps[-4:])
    assert first_run[-1] < 400, "the cancel came too late to test a resume"
    assert checkpoint <= first_run[-1]
    resumed = steps[len(first_run) :]
    assert resumed[0] == first_run[-1] + 1, "the resumed run left a gap or repeated a step"
    assert job.attempts == 2
