"""Uploading through /api/datasets/: every format, the column mapping, and every way a file is refused."""

import json

import pytest

from datasets_app.models import Dataset
from tests.datasets.dataset_support import (  # noqa: F401
    ALPACA,
    gz,
    isolated_media,
    jsonl,
    raw_multipart,
    stored_files,
    upload,
)

pytestmark = pytest.mark.django_db


def rows_of(client, dataset_id):
    return client.get(f"/api/datasets/{dataset_id}/preview/?page_size=100").json()["results"]


def test_alpaca_with_history_and_system_is_ready_with_counts(alice_api):
    response = upload(alice_api, jsonl(ALPACA), "support.jsonl")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "ready"
    assert (body["format"], body["kind"], body["num_rows"], body["rows_in"]) == ("alpaca", "sft", 3, 3)
    assert body["name"] == "support"
    assert body["ref"] == f"dataset://{body['uid']}"
    assert body["stats"]["turns"] == 4 and body["stats"]["messages"] == 8
    assert set(body["stats"]["chars_by_role"]) == {"system", "user", "assistant"}
    assert len(body["sha256"]) == 64
    rows = rows_of(alice_api, body["id"])
    assert rows[1] == {
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Add\n2 + 2"}, {"role": "assistant", "content": "4"}],
    }
    assert [m["content"] for m in rows[2]["messages"]] == [
        "Are you there?",
        "Yes.",
        "And now?",
        "Still here.",
    ]
    files = stored_files()
    assert len(files) == 2
    assert any(f.endswith("/original/support.jsonl") for f in files)
    assert any(f.endswith("/normalised.jsonl") for f in files)


def test_sharegpt_with_tool_turns(alice_api):
    row = {
        "conversations": [
            {"from": "human", "value": "Weather in Paris?"},
            {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Paris"}}'},
            {"from": "observation", "value": '{"temp": 21}'},
            {"from": "gpt", "value": "21 degrees."},
        ],
        "system": "Use tools.",
    }
    body = upload(
        alice_api, jsonl([row, {"conversations": row["conversations"][:1] + row["conversations"][3:]}])
    ).json()
    assert (body["format"], body["num_rows"]) == ("sharegpt", 2)
    roles = [m["role"] for m in rows_of(alice_api, body["id"])[0]["messages"]]
    assert roles == ["user", "function_call", "tool", "assistant"]


def test_openai_chat_json_array_with_bom(alice_api):
    rows = [
        {
            "messages": [
                {"role": "system", "content": "Terse."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
            ]
        },
        {"messages": [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"}]},
    ]
    content = b"\xef\xbb\xbf" + json.dumps(rows, ensure_ascii=False, indent=1).encode()
    body = upload(alice_api, content, "chat.json").json()
    assert (body["format"], body["kind"], body["num_rows"]) == ("openai", "sft", 2)
    assert rows_of(alice_api, body["id"])[0]["system"] == "Terse."


def test_preference_pairs(alice_api):
    rows = [
        {"instruction": "Pick a colour", "chosen": "Blue.", "rejected": "I refuse."},
        {"messages": [{"role": "user", "content": "2+2?"}], "chosen": "4", "rejected": "5"},
    ]
    body = upload(alice_api, jsonl(rows), "dpo.jsonl").json()
    assert (body["format"], body["kind"], body["num_rows"]) == ("preference", "preference", 2)
    first = rows_of(alice_api, body["id"])[0]
    assert first["chosen"] == "Blue." and first["rejected"] == "I refuse."
    assert {"chosen", "rejected"} <= set(body["stats"]["chars_by_role"])


def test_plain_text_file(alice_api):
    content = b"First document,\nstill the first.\n\nSecond document.\n"
    body = upload(alice_api, content, "corpus.txt").json()
    assert (body["format"], body["kind"], body["num_rows"]) == ("text", "text", 2)
    assert rows_of(alice_api, body["id"])[0] == {"text": "First document,\nstill the first."}


def test_gzipped_json_lines(alice_api):
    body = upload(alice_api, gz(jsonl(ALPACA)), "support.jsonl.gz").json()
    assert (body["status"], body["num_rows"], body["name"]) == ("ready", 3, "support")


def test_column_mapping_and_explicit_format(alice_api):
    rows = [{"question": "Capital of France?", "answer": "Paris."}, {"question": "2+2?", "answer": "4"}]
    response = upload(
        alice_api,
        jsonl(rows),
        mapping={"columns": {"prompt": "question", "response": "answer"}},
        format="alpaca",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["options"]["mapping"] == {"columns": {"prompt": "question", "response": "answer"}}
    assert rows_of(alice_api, body["id"])[0]["messages"][0]["content"] == "Capital of France?"


def test_cleaning_options_and_drop_policy_report_row_errors(alice_api):
    rows = [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(20)]
    rows += [rows[0], {"instruction": "long " * 50, "output": "x"}, {"instruction": "bad", "output": 7}]
    body = upload(alice_api, jsonl(rows), max_sample_chars=100).json()
    assert body["num_rows"] == 20
    assert body["stats"]["dropped_by_reason"] == {"invalid": 1, "duplicate": 1, "too_long": 1}
    assert body["errors_total"] == 1 and body["error_counts"] == {"wrong_type": 1}
    error = body["errors"][0]
    assert (error["line"], error["field"]) == (23, '"output"')
    kept_duplicates = upload(alice_api, jsonl(rows[:21]), dedupe="false", name="dupes").json()
    assert kept_duplicates["num_rows"] == 21


def test_reject_policy_refuses_at_the_first_bad_row(alice_api):
    rows = [{"instruction": "ok", "output": "fine"}, {"instruction": "bad", "output": ["list"]}]
    response = upload(alice_api, jsonl(rows), "strict.jsonl", policy="reject")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_row"
    assert error["fields"] == {"file": "strict.jsonl", "line": 2}
    assert "line 2" in error["message"] and "output" in error["message"]
    assert not Dataset.objects.exists() and stored_files() == []


BAD_FILES = [
    ("not UTF-8", "data.jsonl", b'{"text": "caf\xe9"}\n', "not_utf8", "line 1: not valid UTF-8", {}),
    ("not JSON", "data.jsonl", b"hello world\n", "not_json", "line 1: not valid JSON", {}),
    ("empty", "data.jsonl", b"", "empty_file", "the file is empty", {}),
    ("only blank lines", "data.jsonl", b"\n \n", "empty_file", "the file has no rows", {}),
    ("a number", "data.json", b"42", "wrong_top_level", "found a number", {}),
    ("one object", "data.json", b'{\n "a": 1\n}', "wrong_top_level", "found a single JSON object", {}),
    ("unknown format", "data.jsonl", b'{"foo": 1}\n', "unknown_format", "give a column mapping", {}),
    ("not gzip", "data.jsonl.gz", b"plain", "not_gzip", "is not gzip-compressed", {}),
    ("bad extension", "data.csv", b"a,b\n1,2\n", "unsupported_extension", "expected .jsonl.gz", {}),
    ("control char in name", "da\u202eta.jsonl", jsonl(ALPACA), "bad_filename", "control character", {}),
    (
        "bad mapping key",
        "data.jsonl",
        jsonl(ALPACA),
        "invalid_options",
        'unknown column "prompts"',
        {"mapping": {"columns": {"prompts": "q"}}},
    ),
    (
        ".txt as alpaca",
        "notes.txt",
        b"some text\n",
        "invalid_options",
        "plain-text documents",
        {"format": "alpaca"},
    ),
    (
        "too many bad rows",
        "data.jsonl",
        jsonl([{"instruction": "a", "output": 1}] * 2 + ALPACA),
        "too_many_bad_rows",
        "over the limit of 10%",
        {},
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "code", "message", "fields"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_bad_files_are_400_with_a_clear_message_and_leave_nothing(
    alice_api, name, content, code, message, fields
):
    response = upload(alice_api, content, name, **fields)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert message in error["message"]
    assert error["fields"]["file"]
    assert not Dataset.objects.exists()
    assert stored_files() == []


def test_line_over_the_configured_limit(alice_api, settings):
    settings.MAX_LINE_KB = 1
    content = jsonl([{"instruction": "x" * 2000, "output": "y"}])
    response = upload(alice_api, content)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "line_too_long"
    assert error["message"] == "data.jsonl: line 1 is longer than the limit of 1024 bytes"
    assert error["fields"] == {"file": "data.jsonl", "line": 1}
    assert not Dataset.objects.exists() and stored_files() == []


def test_file_over_the_size_limit(alice_api, settings):
    settings.MAX_UPLOAD_MB = 0
    response = upload(alice_api, jsonl(ALPACA))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_large"
    assert "over the limit of 0 MB" in response.json()["error"]["message"]
    assert not Dataset.objects.exists() and stored_files() == []


@pytest.mark.parametrize("filename", ["../../etc/evil.jsonl", "..\\evil.jsonl", "/abs/evil.jsonl", ".."])
def test_file_names_with_path_tricks_are_refused(alice_api, filename):
    body, content_type = raw_multipart("file", filename, jsonl(ALPACA))
    response = alice_api.post("/api/datasets/", body, content_type=content_type)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "bad_filename"
    assert "file name" in error["message"]
    assert not Dataset.objects.exists() and stored_files() == []


def test_bad_form_fields_are_400_naming_the_field(alice_api):
    cases = [
        ({"mapping": "{not json"}, "mapping"),
        ({"mapping": "[1, 2]"}, "mapping"),
        ({"format": "csv"}, "format"),
        ({"policy": "maybe"}, "policy"),
        ({"max_sample_chars": "0"}, "max_sample_chars"),
        ({"tokenizer": "999"}, "tokenizer"),
    ]
    for fields, field in cases:
        response = upload(alice_api, jsonl(ALPACA), **fields)
        assert response.status_code == 400, (fields, response.content)
        assert field in response.json()["error"]["fields"], fields
    response = alice_api.post("/api/datasets/", {"name": "no file"}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()["error"]["fields"]
    assert not Dataset.objects.exists()


def test_token_counts_with_a_base_models_tokenizer(alice_api, settings, tmp_path):
    from training_app.models import BaseModel
    from training_app.trainer.tiny_model import build_tokenizer

    settings.MODEL_ROOTS = [tmp_path / "models"]
    model_dir = tmp_path / "models" / "tiny"
    build_tokenizer().save_pretrained(model_dir)
    base = BaseModel.objects.create(name="tiny", path=str(model_dir), is_valid=True)
    body = upload(alice_api, jsonl(ALPACA), tokenizer=str(base.pk)).json()
    tokens = body["stats"]["tokens"]
    assert tokens["total"] > 0 and tokens["by_role"]["assistant"] > 0
    assert body["options"]["tokenizer_name"] == "tiny"
