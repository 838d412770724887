"""Every accepted format becomes the canonical rows of docs/canonical-format.md."""

import json

import pytest

from datasets_app.ingest import FileError, IngestOptions


def test_alpaca_with_history_and_system(run, messages):
    row = {
        "instruction": "Summarise this",
        "input": "A long text.",
        "output": "Short.",
        "system": "Be brief.",
        "history": [["Hi", "Hello!"], ["How are you?", "Fine."]],
    }
    result, [out, _] = run([row, {"instruction": "Capital of France?", "output": "Paris."}])
    assert (result.kind, result.format, result.rows_in, result.rows_out) == ("sft", "alpaca", 2, 2)
    assert out["system"] == "Be brief."
    assert messages(out) == [
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "How are you?"),
        ("assistant", "Fine."),
        ("user", "Summarise this\nA long text."),
        ("assistant", "Short."),
    ]


def test_alpaca_without_input_or_system(run, messages):
    _, rows = run([{"instruction": "Capital of France?", "input": "", "output": "Paris."}])
    assert rows == [
        {
            "messages": [
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Paris."},
            ]
        }
    ]


def test_alpaca_with_only_input_uses_it_as_prompt(run, messages):
    _, [row] = run([{"instruction": "", "input": "2 + 2?", "output": "4"}])
    assert messages(row) == [("user", "2 + 2?"), ("assistant", "4")]


def test_sharegpt_multi_turn_with_tools(run, messages):
    call = json.dumps({"name": "weather", "arguments": {"city": "Paris"}})
    row = {
        "conversations": [
            {"from": "system", "value": "You are helpful."},
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello!"},
            {"from": "human", "value": "Weather in Paris?"},
            {"from": "function_call", "value": call},
            {"from": "observation", "value": '{"temp": 21}'},
            {"from": "gpt", "value": "21 degrees."},
        ]
    }
    result, [out] = run([row])
    assert (result.kind, result.format) == ("sft", "sharegpt")
    assert out["system"] == "You are helpful."
    assert messages(out) == [
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "Weather in Paris?"),
        ("function_call", call),
        ("tool", '{"temp": 21}'),
        ("assistant", "21 degrees."),
    ]


def test_sharegpt_under_messages_key_with_system_column(run, messages):
    row = {"messages": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}], "system": "S"}
    result, [out] = run([row])
    assert result.format == "sharegpt"
    assert out == {
        "system": "S",
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    }


def test_openai_chat_keeps_weight_zero_turns_as_context(run, messages):
    row = {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello, how can I help you today?", "weight": 0},
            {"role": "user", "content": "Name a colour"},
            {"role": "assistant", "content": "Blue", "weight": 1},
        ]
    }
    result, [out] = run([row])
    assert (result.kind, result.format) == ("sft", "openai")
    assert out == {
        "system": "Be terse.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello, how can I help you today?", "weight": 0},
            {"role": "user", "content": "Name a colour"},
            {"role": "assistant", "content": "Blue"},
        ],
    }
    assert result.stats["weight_zero_messages"] == 1


def test_openai_tool_calls_become_function_call_messages(run, messages):
    row = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Weather "}, {"type": "text", "text": "in Oslo?"}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "-3"},
            {"role": "assistant", "content": "It is -3 degrees."},
        ]
    }
    _, [out] = run([row])
    assert messages(out) == [
        ("user", "Weather in Oslo?"),
        ("function_call", '{"name": "weather", "arguments": {"city": "Oslo"}}'),
        ("tool", "-3"),
        ("assistant", "It is -3 degrees."),
    ]


PROMPT = [{"role": "user", "content": "Q"}]
PREFERENCE_SHAPES = {
    "alpaca": {"instruction": "Q", "input": "", "chosen": "good", "rejected": "bad"},
    "messages with assistant dicts": {
        "messages": PROMPT,
        "chosen": {"role": "assistant", "content": "good"},
        "rejected": {"role": "assistant", "content": "bad"},
    },
    "sharegpt tags": {
        "conversations": [{"from": "human", "value": "Q"}],
        "chosen": {"from": "gpt", "value": "good"},
        "rejected": {"from": "gpt", "value": "bad"},
    },
    "openai dpo": {
        "input": {"messages": PROMPT},
        "preferred_output": [{"role": "assistant", "content": "good"}],
        "non_preferred_output": [{"role": "assistant", "content": "bad"}],
    },
    "older openai dpo": {
        "input": {"messages": PROMPT},
        "preferred_completion": "good",
        "non_preferred_completion": "bad",
    },
    "trl prompt": {"prompt": "Q", "chosen": "good", "rejected": "bad"},
    "trl conversational": {
        "prompt": PROMPT,
        "chosen": [{"role": "assistant", "content": "good"}],
        "rejected": "bad",
    },
}


@pytest.mark.parametrize("shape", PREFERENCE_SHAPES)
def test_preference_shapes(run, shape):
    result, rows = run([PREFERENCE_SHAPES[shape]])
    assert (result.kind, result.format) == ("preference", "preference")
    assert rows == [{"messages": [{"role": "user", "content": "Q"}], "chosen": "good", "rejected": "bad"}]


def test_preference_with_system_history_and_mixed_shapes_in_one_file(run, messages):
    rows = [
        {
            "instruction": "Q",
            "input": "ctx",
            "history": [["h1", "h2"]],
            "system": "S",
            "chosen": "good",
            "rejected": "bad",
        },
        {
            "input": {"messages": [{"role": "system", "content": "S2"}, *PROMPT]},
            "preferred_output": [{"role": "assistant", "content": "yes"}],
            "non_preferred_output": [{"role": "assistant", "content": "no"}],
        },
    ]
    _, (first, second) = run(rows)
    assert first["system"] == "S" and second["system"] == "S2"
    assert messages(first) == [("user", "h1"), ("assistant", "h2"), ("user", "Q\nctx")]
    assert (second["chosen"], second["rejected"]) == ("yes", "no")


def test_text_rows_from_jsonl(run):
    result, rows = run([{"text": "  first document  "}, {"text": "second", "meta": {"source": "web"}}])
    assert (result.kind, result.format) == ("text", "text")
    assert rows == [{"text": "first document"}, {"text": "second"}]


def test_txt_file_is_blank_line_separated_documents(run):
    content = "Para one, line 1\r\nline 2\r\n\r\n\n  \nPara two\n\nPara three"
    result, rows = run(content, name="corpus.txt")
    assert (result.kind, result.format, result.rows_in) == ("text", "text", 3)
    assert rows == [{"text": "Para one, line 1\nline 2"}, {"text": "Para two"}, {"text": "Para three"}]


def test_txt_file_refuses_another_format(run):
    with pytest.raises(FileError) as caught:
        run("hello", name="corpus.txt", format="alpaca")
    assert caught.value.code == "invalid_options"


def test_explicit_format_overrides_detection(run):
    # Has "text" and alpaca fields; detection says alpaca, the user says text.
    row = {"instruction": "i", "output": "o", "text": "the document"}
    result, rows = run([row], format="text")
    assert result.format == "text" and rows == [{"text": "the document"}]


def test_detection_looks_past_rows_of_no_known_shape(run):
    rows = [{"id": 1}, {"instruction": "i", "output": "o"}]
    result, out = run(rows, options=IngestOptions(max_bad_ratio=0.5))
    assert result.format == "alpaca" and result.rows_out == 1
    assert [str(e) for e in result.errors] == ['line 1: "instruction" is missing']


def test_unknown_format_names_the_keys_seen(run):
    with pytest.raises(FileError) as caught:
        run([{"question": "q", "answer": "a"}, {"question": "q2", "reply": "a2"}])
    error = caught.value
    assert error.code == "unknown_format"
    assert 'keys seen: "question", "answer", "reply"' in error.message
    assert "column mapping" in error.message


def test_unknown_format_name_is_refused(run):
    with pytest.raises(FileError) as caught:
        run([{"text": "x"}], format="csv")
    assert caught.value.code == "invalid_options"
    assert caught.value.message.startswith('unknown format "csv"')
