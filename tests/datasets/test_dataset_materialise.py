"""materialise_for_job: datasets copied from storage, mixed, filled in and split, reproducibly."""

import json

import pytest

from datasets_app.materialise import DatasetSpec, MaterialiseError, materialise_for_job
from datasets_app.models import Dataset
from tests.datasets.dataset_support import isolated_media, make_job, make_ready  # noqa: F401

pytestmark = pytest.mark.django_db


def qa(prefix, n):
    return [{"instruction": f"{prefix} question {i}", "output": f"{prefix} answer {i}"} for i in range(n)]


def read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def first_texts(path):
    return [row["messages"][0]["content"] for row in read(path)]


@pytest.fixture
def two(org_a):
    return make_ready(org_a, qa("alpha", 40), name="alpha"), make_ready(org_a, qa("beta", 20), name="beta")


def test_counts_mix_and_split_are_reproducible(two, tmp_path):
    alpha, beta = two
    specs = [DatasetSpec(alpha, num_samples=30), DatasetSpec(beta, num_samples=10)]
    first = materialise_for_job(specs, tmp_path / "one", seed=7, val_ratio=0.1, test_ratio=0.05)
    again = materialise_for_job(specs, tmp_path / "two", seed=7, val_ratio=0.1, test_ratio=0.05)
    assert first.counts == {"train": 34, "val": 4, "test": 2}
    for name in ("train_path", "val_path", "test_path"):
        assert getattr(first, name).read_bytes() == getattr(again, name).read_bytes()
    everything = first_texts(first.train_path) + first_texts(first.val_path) + first_texts(first.test_path)
    assert len(everything) == len(set(everything)) == 40
    assert sum(text.startswith("alpha") for text in everything) == 30
    assert [s["taken"] for s in first.sources] == [30, 10]
    assert first.versions == {alpha.pk: alpha.sha256, beta.pk: beta.sha256}
    assert first.kind == "sft"
    other = materialise_for_job(specs, tmp_path / "three", seed=8, val_ratio=0.1, test_ratio=0.05)
    assert other.train_path.read_bytes() != first.train_path.read_bytes()
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["test.jsonl", "train.jsonl", "val.jsonl"]


def test_ratios_are_shares_of_the_largest_mix_and_counts_are_capped(two, tmp_path):
    alpha, beta = two
    data = materialise_for_job(
        [{"dataset": alpha, "ratio": 0.5}, {"dataset": beta.pk, "ratio": 0.5}], tmp_path / "r", seed=1
    )
    assert data.counts == {"train": 40, "val": 0} and [s["taken"] for s in data.sources] == [20, 20]
    assert data.val_path is None and data.test_path is None
    assert not (tmp_path / "r" / "val.jsonl").exists()
    capped = materialise_for_job([DatasetSpec(beta, num_samples=1000), alpha], tmp_path / "c", seed=1)
    assert [s["taken"] for s in capped.sources] == [20, 40]


def test_job_dataset_rows_are_accepted_and_pinned_versions_checked(org_a, two, tmp_path, settings):
    alpha, _ = two
    settings.MODEL_ROOTS = [tmp_path / "models"]
    job = make_job(org_a, alpha, model_root=tmp_path / "models")
    data = materialise_for_job(list(job.job_datasets.all()), tmp_path / "job", seed=job.seed, val_ratio=0.25)
    assert data.counts == {"train": 30, "val": 10}
    use = job.job_datasets.get()
    use.dataset_sha256 = "0" * 64
    with pytest.raises(MaterialiseError, match="changed since the job was created"):
        materialise_for_job([use], tmp_path / "stale", seed=1)


def test_placeholders_of_presets_are_filled_and_required(org_a, tmp_path):
    identity = make_ready(
        None,
        [{"instruction": "Who are you?", "output": "I am {{name}}, made by {{ author }}."}]
        + [{"instruction": f"q{i}", "output": "{{name}} here."} for i in range(3)],
        name="identity",
        is_preset=True,
    )
    Dataset.objects.filter(pk=identity.pk).update(has_placeholders=True)
    identity.refresh_from_db()
    user_data = make_ready(
        org_a, [{"instruction": "Jinja?", "output": "Write {{ item }} in the template."}], name="u"
    )
    assert not user_data.has_placeholders  # only {{name}}/{{author}} are filled by a job

    data = materialise_for_job(
        [DatasetSpec(identity, placeholders={"author": "Acme"}), user_data],
        tmp_path / "p",
        seed=3,
        placeholders={"name": "Forge-7B", "author": "ignored"},
    )
    answers = {row["messages"][0]["content"]: row["messages"][1]["content"] for row in read(data.train_path)}
    assert answers["Who are you?"] == "I am Forge-7B, made by Acme."
    assert answers["Jinja?"] == "Write {{ item }} in the template."  # other {{...}} text is left as it is
    with pytest.raises(MaterialiseError, match="needs values for its placeholders: author, name"):
        materialise_for_job([identity], tmp_path / "missing", seed=3)
    assert not (tmp_path / "missing" / "train.jsonl").exists()


def test_what_cannot_be_materialised_is_refused_clearly(org_a, two, tmp_path):
    alpha, beta = two
    corpus = make_ready(org_a, [{"text": f"doc {i}"} for i in range(5)], name="corpus")
    cases = [
        ([DatasetSpec(alpha, ratio=0.5), DatasetSpec(beta, num_samples=3)], "a ratio, or none"),
        ([DatasetSpec(alpha, ratio=0.5), beta], "a ratio, or none"),
        ([alpha, corpus], "different kinds"),
        ([], "at least one dataset"),
    ]
    for specs, message in cases:
        with pytest.raises(MaterialiseError, match=message):
            materialise_for_job(specs, tmp_path / "bad", seed=1)
    with pytest.raises(MaterialiseError, match="too few"):
        materialise_for_job(
            [DatasetSpec(beta, num_samples=2)], tmp_path / "bad", seed=1, val_ratio=0.5, test_ratio=0.4
        )
    Dataset.objects.filter(pk=beta.pk).update(status="processing")
    beta.refresh_from_db()
    with pytest.raises(MaterialiseError, match="not ready"):
        materialise_for_job([beta], tmp_path / "bad", seed=1)
    assert not any((tmp_path / "bad").glob("*.jsonl"))
