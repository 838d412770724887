"""Row errors (line, field, expectation), drop/reject policy, cleaning options, stats and progress."""

import json

import pytest

from datasets_app.ingest import FileError, IngestOptions

LENIENT = IngestOptions(max_bad_ratio=1.0)


def alpaca(i):
    return {"instruction": f"question {i}", "output": f"answer {i}"}


def turns(*pairs):
    return {"conversations": [{"from": role, "value": value} for role, value in pairs]}


def first_error(run, bad_row, good_row=None):
    good_row = good_row or alpaca(0)
    result, _ = run([good_row, bad_row], options=LENIENT)
    assert result.rows_in == 2 and len(result.errors) == 1, result.errors
    return str(result.errors[0])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"instruction": "q", "output": ""}, '"output" is empty'),
        ({"instruction": "q", "output": "   "}, '"output" is empty'),
        ({"instruction": "q"}, '"output" is missing'),
        ({"instruction": "q", "output": 42}, '"output" must be a string, got a number'),
        ({"instruction": "", "input": "", "output": "a"}, '"instruction" is empty'),
        (
            {"instruction": "q", "output": "a", "history": [["only one"]]},
            '"history"[0] must be a [user, assistant] pair',
        ),
        (
            {"instruction": "q", "output": "a", "history": "nope"},
            '"history" must be an array of [user, assistant] pairs',
        ),
        ({"instruction": "q", "output": "a", "system": ["s"]}, '"system" must be a string, got an array'),
    ],
)
def test_alpaca_row_errors(run, bad, message):
    assert first_error(run, bad) == f"line 2: {message}"


SHAREGPT_OK = turns(("human", "q"), ("gpt", "a"))


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            turns(("human", "q"), ("gpt", "a"), ("bot", "?")),
            '"conversations"[2].from must be one of human, gpt, system, function_call, observation, got "bot"',
        ),
        (
            turns(("human", "q"), ("human", "q again")),
            '"conversations"[1].from must be one of gpt, function_call here (turns alternate), got "human"',
        ),
        (turns(("human", "q"), ("gpt", "a"), ("human", "q2")), '"conversations" must end with a gpt message'),
        (
            turns(("human", "q"), ("function_call", "{}")),
            '"conversations" must end with a gpt message, not function_call',
        ),
        (
            turns(("human", "q"), ("system", "s")),
            '"conversations"[1].from "system" is only allowed in the first message',
        ),
        ({"conversations": ["hi"]}, '"conversations"[0] must be an object, got a string'),
        ({"conversations": []}, '"conversations" is empty'),
        ({"conversations": {"from": "human"}}, '"conversations" must be an array, got an object'),
        ({"id": 7}, '"conversations" is missing'),
        (
            {"conversations": [{"from": "human"}, {"from": "gpt", "value": "a"}]},
            '"conversations"[0].value is missing',
        ),
    ],
)
def test_sharegpt_row_errors(run, bad, message):
    assert first_error(run, bad, SHAREGPT_OK) == f"line 2: {message}"


OPENAI_OK = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}


def chat(*messages):
    return {"messages": list(messages)}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            chat({"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 2}),
            '"messages"[1].weight must be 0 or 1, got 2',
        ),
        (
            chat({"role": "user", "content": "q", "weight": 0}, {"role": "assistant", "content": "a"}),
            '"messages"[0].weight is only allowed on assistant messages',
        ),
        (
            chat({"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0}),
            '"messages" has no assistant message with weight 1',
        ),
        (
            chat({"role": "human", "content": "q"}, {"role": "assistant", "content": "a"}),
            '"messages"[0].role must be one of system, user, assistant, tool, got "human"',
        ),
        (chat({"role": "user", "content": "q"}), '"messages" must end with an assistant message'),
        (
            chat(
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"},
            ),
            '"messages" must start with a user message (after an optional system message)',
        ),
        (
            chat(
                {"role": "user", "content": "q"},
                {"role": "system", "content": "s"},
                {"role": "assistant", "content": "a"},
            ),
            '"messages"[1].role "system" is only allowed in the first message',
        ),
        (
            chat({"role": "user", "content": [{"type": "image_url"}]}, {"role": "assistant", "content": "a"}),
            '"messages"[0].content[0] must be a text part',
        ),
    ],
)
def test_openai_row_errors(run, bad, message):
    assert first_error(run, bad, OPENAI_OK) == f"line 2: {message}"


PREFERENCE_OK = {"instruction": "q", "chosen": "good", "rejected": "bad"}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"instruction": "q", "chosen": "same", "rejected": "same"}, '"chosen" and "rejected" are the same'),
        ({"instruction": "q", "chosen": "good", "rejected": " "}, '"rejected" is empty'),
        (
            {"instruction": "q", "chosen": {"role": "user", "content": "x"}, "rejected": "bad"},
            '"chosen".role must be assistant',
        ),
        (
            {
                "input": {"messages": [{"role": "user", "content": "q"}]},
                "preferred_output": [
                    {"role": "assistant", "content": "a"},
                    {"role": "assistant", "content": "b"},
                ],
                "non_preferred_output": "c",
            },
            '"preferred_output" must hold exactly one assistant message, got 2',
        ),
        (
            {
                "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                "chosen": "good",
                "rejected": "bad",
            },
            '"messages" (the prompt) must end with a user message',
        ),
        (
            {"chosen": "good", "rejected": "bad"},
            '"instruction" is missing (a preference row needs a prompt: '
            '"instruction", "messages" or "input".messages)',
        ),
    ],
)
def test_preference_row_errors(run, bad, message):
    assert first_error(run, bad, PREFERENCE_OK) == f"line 2: {message}"


def test_a_bad_json_line_is_a_row_error_with_its_column(run):
    content = json.dumps(alpaca(0)) + "\n\n{bad json}\n" + json.dumps(alpaca(1)) + "\n"
    result, rows = run(content, options=LENIENT)
    assert [str(e) for e in result.errors] == [
        "line 3: not valid JSON: Expecting property name enclosed in double quotes (column 2)"
    ]
    assert result.error_counts == {"invalid_json": 1} and len(rows) == 2


def test_drop_policy_accepts_up_to_ten_percent_bad(run):
    rows = [alpaca(i) for i in range(9)] + [{"instruction": "q", "output": ""}]
    result, out = run(rows)
    assert (result.rows_in, result.rows_out, len(out)) == (10, 9, 9)
    assert result.dropped_by_reason == {"invalid": 1, "duplicate": 0, "too_long": 0}
    assert result.error_counts == {"empty": 1}


def test_drop_policy_refuses_over_ten_percent_bad(run):
    rows = [alpaca(i) for i in range(9)] + [{"instruction": "q", "output": ""}, {"instruction": "q"}]
    with pytest.raises(FileError) as caught:
        run(rows)
    error = caught.value
    assert error.code == "too_many_bad_rows"
    assert error.message == (
        '2 of 11 rows (18.2%) are invalid, over the limit of 10%; the first: line 10: "output" is empty'
    )
    assert error.line == 10


def test_max_bad_ratio_is_configurable(run):
    rows = [alpaca(0), {"instruction": "q"}]
    result, _ = run(rows, options=IngestOptions(max_bad_ratio=0.5))
    assert result.rows_out == 1
    with pytest.raises(FileError):
        run(rows, options=IngestOptions(max_bad_ratio=0.49))


def test_reject_policy_refuses_at_the_first_bad_row(run):
    rows = [alpaca(i) for i in range(50)] + [{"instruction": "q", "output": ""}]
    with pytest.raises(FileError) as caught:
        run(rows, options=IngestOptions(policy="reject"))
    assert (caught.value.code, caught.value.message, caught.value.line) == (
        "invalid_row",
        'line 51: "output" is empty',
        51,
    )


def test_only_the_first_hundred_errors_are_kept_but_all_are_counted(run):
    rows = [{"instruction": "q", "output": ""}] * 150 + [{"instruction": "q"}] * 50 + [alpaca(1)]
    result, _ = run(rows, options=LENIENT)
    assert len(result.errors) == 100 and result.errors[99].line == 100
    assert result.error_counts == {"empty": 150, "missing_field": 50}
    assert result.bad_rows == 200


def test_bad_options_are_refused(run):
    for options in (
        IngestOptions(policy="ignore"),
        IngestOptions(max_bad_ratio=2),
        IngestOptions(max_sample_chars=0),
    ):
        with pytest.raises(FileError) as caught:
            run([alpaca(0)], options=options)
        assert caught.value.code == "invalid_options"


# -- cleaning ------------------------------------------------------------------------------------------


def test_trimming_is_on_by_default_and_can_be_turned_off(run):
    row = {"instruction": "  q \n", "output": "\ta  ", "system": " s "}
    _, [trimmed] = run([row])
    assert trimmed == {
        "system": "s",
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    }
    _, [kept] = run([row], options=IngestOptions(trim_whitespace=False))
    assert [m["content"] for m in kept["messages"]] == ["  q \n", "\ta  "] and kept["system"] == " s "


def test_empty_exchanges_are_dropped_or_refused(run, messages):
    row = turns(("human", "q1"), ("gpt", "a1"), ("human", "q2"), ("gpt", " "), ("human", "q3"), ("gpt", "a3"))
    _, [out] = run([row])
    assert messages(out) == [("user", "q1"), ("assistant", "a1"), ("user", "q3"), ("assistant", "a3")]
    result, _ = run([SHAREGPT_OK, row], options=IngestOptions(drop_empty_turns=False, max_bad_ratio=1))
    assert [str(e) for e in result.errors] == ['line 2: "conversations"[3].value is empty']
    only_empty = turns(("human", "q"), ("gpt", ""))
    result, _ = run([SHAREGPT_OK, only_empty], options=LENIENT)
    assert [str(e) for e in result.errors] == [
        'line 2: "conversations" has no exchange without an empty message'
    ]


def test_empty_history_pairs_and_chat_messages_are_dropped(run, messages):
    _, [out] = run([{"instruction": "q", "output": "a", "history": [["", "x"], ["h", "i"]]}])
    assert messages(out) == [("user", "h"), ("assistant", "i"), ("user", "q"), ("assistant", "a")]
    row = chat(
        {"role": "user", "content": "q"},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": "a"},
    )
    _, [out] = run([row])
    assert messages(out) == [("user", "q"), ("assistant", "a")]


def test_exact_duplicates_are_removed_after_normalising(run):
    rows = [alpaca(1), alpaca(2), {"instruction": " question 1 ", "output": "answer 1\n"}, alpaca(1)]
    result, out = run(rows)
    assert (result.rows_out, len(out)) == (2, 2)
    assert result.stats["duplicates_removed"] == 2
    assert result.dropped_by_reason["duplicate"] == 2
    result, out = run(rows, options=IngestOptions(dedupe=False))
    assert len(out) == 4


def test_rows_over_the_character_limit_are_dropped_with_a_reason(run):
    rows = [alpaca(1), {"instruction": "q" * 30, "output": "a" * 30}, alpaca(2)]
    result, out = run(rows, options=IngestOptions(max_sample_chars=50))
    assert len(out) == 2 and result.dropped_by_reason["too_long"] == 1
    assert result.errors == []


def test_nothing_left_after_cleaning_is_refused(run):
    with pytest.raises(FileError) as caught:
        run([alpaca(1), alpaca(2)], options=IngestOptions(max_sample_chars=5))
    assert (caught.value.code, caught.value.message) == (
        "no_rows",
        "no rows are left after cleaning (2 too long)",
    )


# -- stats and progress --------------------------------------------------------------------------------


def test_length_distribution_per_role(run):
    rows = [{"instruction": "u" * n, "output": "a" * 10} for n in (1, 2, 3, 100)]
    rows.append({"instruction": "long", "output": "x" * 70_000, "system": "sys"})
    result, _ = run(rows)
    stats = result.stats
    assert (stats["rows"], stats["rows_in"], stats["messages"], stats["turns"]) == (5, 5, 10, 5)
    assert stats["turns_per_row"] == {"1": 5}
    assert stats["characters"] == 1 + 2 + 3 + 100 + 4 + 4 * 10 + 70_000 + 3
    user = stats["chars_by_role"]["user"]
    assert {k: user[k] for k in ("count", "min", "mean", "p50", "p95", "max")} == {
        "count": 5,
        "min": 1,
        "mean": 22.0,
        "p50": 3,
        "p95": 100,
        "max": 100,
    }
    assert user["histogram"]["counts"][:7] == [4, 0, 0, 1, 0, 0, 0]  # 100 is in [64, 128)
    assistant = stats["chars_by_role"]["assistant"]
    assert (assistant["p50"], assistant["max"], assistant["histogram"]["counts"][-1]) == (10, 70_000, 1)
    assert list(stats["chars_by_role"]) == ["system", "user", "assistant"]


def test_turns_per_row_for_multi_turn_data(run):
    rows = [
        turns(("human", "q"), ("gpt", "a")),
        turns(("human", "q"), ("gpt", "a"), ("human", "q2"), ("gpt", "a2")),
    ]
    result, _ = run(rows)
    assert result.stats["turns_per_row"] == {"1": 1, "2": 1}


def test_token_counts_with_a_callable_or_a_hf_style_tokenizer(run):
    rows = [{"instruction": "one two three", "output": "four five"}]
    result, _ = run(rows, tokenizer=str.split)
    assert result.stats["tokens"]["total"] == 5
    assert result.stats["tokens"]["by_role"] == {"user": 3, "assistant": 2}

    class Tokenizer:
        def encode(self, text, add_special_tokens=True):
            assert add_special_tokens is False
            return list(text.encode())

    result, _ = run(rows, tokenizer=Tokenizer())
    assert result.stats["tokens"]["per_row"]["max"] == len("one two three") + len("four five")


def test_no_token_stats_without_a_tokenizer(run):
    result, _ = run([alpaca(1)])
    assert "tokens" not in result.stats


def test_progress_is_reported_every_n_rows_and_at_the_end(run):
    calls = []
    run(
        [alpaca(i) for i in range(7)],
        options=IngestOptions(progress_every=3),
        progress=lambda *a: calls.append(a),
    )
    assert [rows for _, _, rows in calls] == [3, 6, 7]
    total = calls[-1][1]
    assert calls[-1][0] == total and all(0 < done <= total for done, _, _ in calls)
