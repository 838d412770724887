"""Column mappings and sharegpt tags, after LLaMA-Factory's dataset_info.json."""

import pytest

from datasets_app.ingest import ColumnMapping, FileError


def test_alpaca_columns_are_detected_through_the_mapping(run, messages):
    mapping = {
        "columns": {"prompt": "question", "query": "context", "response": "answer", "system": "persona"}
    }
    row = {"question": "Why?", "context": "Because.", "answer": "I see.", "persona": "Curious"}
    result, [out] = run([row], mapping=mapping)
    assert result.format == "alpaca"
    assert out["system"] == "Curious"
    assert messages(out) == [("user", "Why?\nBecause."), ("assistant", "I see.")]


def test_errors_use_the_users_field_names(run):
    mapping = {"columns": {"prompt": "question", "response": "answer"}}
    rows = [{"question": "q", "answer": "a"}] * 9 + [{"question": "q2", "answer": ""}]
    result, _ = run(rows, mapping=mapping)
    assert [str(e) for e in result.errors] == ['line 10: "answer" is empty']


def test_sharegpt_tags_map_role_content_messages(run, messages):
    mapping = {
        "formatting": "sharegpt",
        "columns": {"messages": "dialog"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    }
    row = {
        "dialog": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": "a"},
        ]
    }
    result, [out] = run([row], mapping=mapping)
    assert result.format == "sharegpt"
    assert out["system"] == "S" and messages(out) == [("user", "u"), ("assistant", "a")]


def test_sharegpt_tags_alone_select_sharegpt(run, messages):
    mapping = {
        "tags": {
            "role_tag": "speaker",
            "content_tag": "text",
            "user_tag": "patient",
            "assistant_tag": "doctor",
        }
    }
    row = {
        "conversations": [{"speaker": "patient", "text": "It hurts"}, {"speaker": "doctor", "text": "Where?"}]
    }
    result, [out] = run([row], mapping=mapping)
    assert result.format == "sharegpt"
    assert messages(out) == [("user", "It hurts"), ("assistant", "Where?")]


def test_conversations_with_role_content_need_a_mapping(run):
    row = {"conversations": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}
    with pytest.raises(FileError) as caught:
        run([row])
    assert caught.value.code == "unknown_format"
    assert 'the "conversations" messages use "role"/"content"' in caught.value.message


def test_openai_format_reads_a_mapped_messages_column(run, messages):
    row = {"conversations": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}
    result, [out] = run([row], format="openai", mapping={"columns": {"messages": "conversations"}})
    assert result.format == "openai" and messages(out) == [("user", "u"), ("assistant", "a")]


def test_ranking_mapping_reads_preference_columns(run, messages):
    mapping = {
        "formatting": "alpaca",
        "ranking": True,
        "columns": {"prompt": "q", "chosen": "win", "rejected": "lose"},
    }
    result, [out] = run([{"q": "Pick", "win": "A", "lose": "B"}], mapping=mapping)
    assert result.kind == "preference"
    assert out == {"messages": [{"role": "user", "content": "Pick"}], "chosen": "A", "rejected": "B"}


def test_text_column_mapping(run):
    result, rows = run([{"content": "doc"}], mapping={"columns": {"text": "content"}})
    assert result.format == "text" and rows == [{"text": "doc"}]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"columns": {"answer": "x"}}, 'unknown column "answer": expected one of prompt, query, response'),
        ({"tags": {"bot_tag": "x"}}, 'unknown tag "bot_tag": expected one of role_tag'),
        ({"columns": {"prompt": ""}}, "mapping columns.prompt must be a non-empty string"),
        ({"columns": ["prompt"]}, 'mapping "columns" must be an object'),
        ({"formatting": "csv"}, 'mapping "formatting" must be one of alpaca, sharegpt, openai, turns, kto'),
        ({"ranking": "yes"}, 'mapping "ranking" must be true or false'),
        ({"file_name": "x.json"}, 'unknown mapping key "file_name"'),
    ],
)
def test_invalid_mappings_are_refused(mapping, message):
    with pytest.raises(FileError) as caught:
        ColumnMapping.from_dict(mapping)
    assert caught.value.code == "invalid_options"
    assert caught.value.message.startswith(message)
