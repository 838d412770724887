"""The hostile-file corpus (tests/datasets/hostile.py) through both upload endpoints, as sent by a client
with an API key: a refusal is a 4xx whose message says what to fix and leaves no row and no stored file;
a file that is fine is accepted."""

import pytest

from datasets_app.models import Dataset, DatasetStatus
from tests.datasets.dataset_support import isolated_media, raw_multipart, stored_files  # noqa: F401
from tests.datasets.hostile import CORPUS

pytestmark = pytest.mark.django_db

ENDPOINTS = {"api": ("/api/datasets/", "file"), "bisheng": ("/api/v1/finetune/job/file", "files")}


def test_the_corpus_is_large_and_varied():
    assert len(CORPUS) >= 100 and len({case.id for case in CORPUS}) == len(CORPUS)
    assert sum(case.accepted for case in CORPUS) >= 20
    assert len({case.code for case in CORPUS}) >= 12


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.id)
def test_hostile_file(case, endpoint, org_a, key_client):
    url, field = ENDPOINTS[endpoint]
    body, content_type = raw_multipart(field, case.filename, case.content)
    response = key_client(org_a).generic("POST", url, body, content_type=content_type)
    answer = response.json()
    if case.accepted:
        assert response.status_code in (200, 201), answer
        assert Dataset.objects.get().status == DatasetStatus.READY
        return
    assert 400 <= response.status_code < 500, answer
    if endpoint == "api":
        code, message = answer["error"]["code"], answer["error"]["message"]
        assert code == case.code, answer
    else:
        message = answer["status_message"]
        assert answer["status_code"] == response.status_code
    assert case.says in message, message
    assert not Dataset.objects.exists()
    assert stored_files() == []
