"""preview, split, mix, placeholders, presets; and that output files are all-or-nothing."""

import json
from collections import Counter

import pytest

from datasets_app.ingest import (
    FileError,
    IngestOptions,
    fill_placeholders,
    get_preset,
    ingest,
    list_presets,
    mix,
    preset_path,
    preview,
    render_preset,
    split,
    split_indices,
)
from datasets_app.ingest.ops import placeholders


def canonical(tmp_path, name, n, tag="r", kind="sft"):
    path = tmp_path / name
    with open(path, "w", encoding="utf-8") as file:
        for i in range(n):
            if kind == "text":
                row = {"text": f"{tag}{i}"}
            else:
                row = {
                    "messages": [
                        {"role": "user", "content": f"{tag}{i}"},
                        {"role": "assistant", "content": "a"},
                    ]
                }
            file.write(json.dumps(row) + "\n")
    return path


def prompts(path):
    return [json.loads(line)["messages"][0]["content"] for line in path.read_text().splitlines()]


def test_preview_reads_a_window(tmp_path):
    path = canonical(tmp_path, "c.jsonl", 50)
    rows = preview(path, offset=10, limit=3)
    assert [row["messages"][0]["content"] for row in rows] == ["r10", "r11", "r12"]
    assert len(preview(path, offset=48, limit=10)) == 2
    assert preview(path, offset=60) == []
    with pytest.raises(ValueError):
        preview(path, offset=-1)


def test_split_is_deterministic_complete_and_disjoint(tmp_path):
    path = canonical(tmp_path, "c.jsonl", 200)
    (tmp_path / "s1").mkdir()
    (tmp_path / "s2").mkdir()
    first = split(path, tmp_path / "s1", val_ratio=0.1, test_ratio=0.05, seed=7)
    again = split(path, tmp_path / "s2", val_ratio=0.1, test_ratio=0.05, seed=7)
    assert first.counts == again.counts == {"train": 170, "val": 20, "test": 10}
    for name in ("train", "val", "test"):
        assert first.paths[name].read_bytes() == again.paths[name].read_bytes()
    parts = [prompts(first.paths[name]) for name in ("train", "val", "test")]
    assert sorted(sum(parts, [])) == sorted(prompts(path))
    # Rows keep their file order within a split.
    assert parts[0] == [p for p in prompts(path) if p in set(parts[0])]


def test_a_different_seed_gives_a_different_split(tmp_path):
    val_a, _ = split_indices(1000, val_ratio=0.1, seed=1)
    val_b, _ = split_indices(1000, val_ratio=0.1, seed=2)
    assert val_a != val_b and len(val_a) == len(val_b) == 100
    assert split_indices(1000, val_ratio=0.1, seed=1) == (val_a, frozenset())


def test_split_without_test_writes_two_files(tmp_path):
    result = split(canonical(tmp_path, "c.jsonl", 10), tmp_path, val_ratio=0.2, seed=0)
    assert set(result.paths) == {"train", "val"} and result.counts == {"train": 8, "val": 2}
    assert not (tmp_path / "test.jsonl").exists()


def test_small_splits_keep_at_least_one_row_each(tmp_path):
    val, test = split_indices(5, val_ratio=0.01, test_ratio=0.01, seed=3)
    assert len(val) == len(test) == 1 and not val & test
    with pytest.raises(ValueError):
        split_indices(1, val_ratio=0.1)
    with pytest.raises(ValueError):
        split_indices(100, val_ratio=0.6, test_ratio=0.4)


def test_mix_with_counts(tmp_path):
    a = canonical(tmp_path, "a.jsonl", 100, tag="a")
    b = canonical(tmp_path, "b.jsonl", 50, tag="b")
    result = mix([(a, 10), (b, 20)], seed=5, out_path=tmp_path / "m.jsonl")
    got = prompts(result.path)
    assert (result.rows, result.taken) == (30, [10, 20])
    assert Counter(p[0] for p in got) == {"a": 10, "b": 20}
    assert len(set(got)) == 30  # without replacement
    assert got[:10] != sorted(got)[:10]  # interleaved, not A then B


def test_mix_is_reproducible_and_seed_sensitive(tmp_path):
    a = canonical(tmp_path, "a.jsonl", 100, tag="a")
    b = canonical(tmp_path, "b.jsonl", 100, tag="b")
    outputs = [
        mix([(a, 0.25), (b, 0.75)], seed=s, out_path=tmp_path / f"m{i}.jsonl", total=40)
        for i, s in enumerate((1, 1, 2))
    ]
    first, again, other = (out.path.read_bytes() for out in outputs)
    assert first == again and first != other
    assert outputs[0].taken == [10, 30]


def test_mix_ratios_without_a_total_take_as_much_as_the_sources_allow(tmp_path):
    a = canonical(tmp_path, "a.jsonl", 100, tag="a")
    b = canonical(tmp_path, "b.jsonl", 50, tag="b")
    result = mix([(a, 0.25), (b, 0.75)], seed=0, out_path=tmp_path / "m.jsonl")
    assert result.taken == [17, 49] and result.rows == 66  # 50 / 0.75 = 66.7 rows in all


@pytest.mark.parametrize(
    ("amounts", "message"),
    [
        ((101, 1), "source 0 has 100 rows; cannot take 101 without replacement"),
        ((0.5, 0.6), "ratios must be above 0 and add up to 1"),
        ((10, 0.5), "give every source a row count (int) or every source a ratio (float)"),
        ((0, 0), "the mix would be empty"),
    ],
)
def test_mix_refuses_impossible_requests(tmp_path, amounts, message):
    a = canonical(tmp_path, "a.jsonl", 100)
    b = canonical(tmp_path, "b.jsonl", 100)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mix([(a, amounts[0]), (b, amounts[1])], seed=0, out_path=tmp_path / "m.jsonl")
    assert not (tmp_path / "m.jsonl").exists()


def test_mix_refuses_different_kinds(tmp_path):
    a = canonical(tmp_path, "a.jsonl", 10)
    t = canonical(tmp_path, "t.jsonl", 10, kind="text")
    with pytest.raises(ValueError, match="different kinds of rows: sft, text"):
        mix([(a, 5), (t, 5)], seed=0, out_path=tmp_path / "m.jsonl")


def test_fill_placeholders_everywhere_in_a_row():
    row = {
        "instruction": "Who are you?",
        "output": "I am {{name}}, made by {{ author }}. {{unknown}} stays.",
        "n": 3,
        "history": [["{{name}}?", "yes"]],
    }
    filled = fill_placeholders(row, {"name": "Tuney", "author": "Acme"})
    assert filled["output"] == "I am Tuney, made by Acme. {{unknown}} stays."
    assert filled["history"] == [["Tuney?", "yes"]] and filled["n"] == 3
    assert row["output"].startswith("I am {{name}}")  # the input is not changed
    assert placeholders(row) == {"name", "author", "unknown"}


def test_presets_are_listed_and_ingest_cleanly(tmp_path):
    presets = {preset["slug"]: preset for preset in list_presets()}
    assert set(presets) == {"bilingual-instructions", "identity"}
    for slug, preset in presets.items():
        source = render_preset(slug, tmp_path / preset["file"], {"name": "Tuney", "author": "Acme Labs"})
        result = ingest(
            source,
            tmp_path / f"{slug}.jsonl",
            filename=preset["file"],
            options=IngestOptions(policy="reject"),
        )
        assert (result.format, result.rows_out) == (preset["format"], preset["rows"])
        assert set(preset) >= {"slug", "title", "description", "format", "language"}


def test_bilingual_preset_has_both_languages():
    rows = json.loads(preset_path("bilingual-instructions").read_text(encoding="utf-8"))
    chinese = [row for row in rows if any("\u4e00" <= ch <= "\u9fff" for ch in row["instruction"])]
    assert 60 <= len(rows) <= 100 and 0.3 < len(chinese) / len(rows) < 0.7


def test_identity_preset_needs_name_and_author(tmp_path):
    assert get_preset("identity")["placeholders"] == ["name", "author"]
    with pytest.raises(ValueError, match="needs a value for: author"):
        render_preset("identity", tmp_path / "id.json", {"name": "Tuney"})
    path = render_preset("identity", tmp_path / "id.json", {"name": "Tuney", "author": "Acme Labs"})
    text = path.read_text(encoding="utf-8")
    assert "{{" not in text and "我是 Tuney" in text and "I am Tuney" in text
    with pytest.raises(KeyError):
        get_preset("nope")


# -- all-or-nothing output -----------------------------------------------------------------------------


def test_a_refused_file_leaves_no_output_and_no_temp_file(tmp_path, write):
    src = write(
        "data.jsonl", [{"instruction": f"q{i}", "output": "a"} for i in range(500)] + [{"instruction": "q"}]
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(FileError):
        ingest(src, out_dir / "c.jsonl", filename="data.jsonl", options=IngestOptions(policy="reject"))
    assert list(out_dir.iterdir()) == []


def test_a_failure_keeps_an_existing_output_untouched(tmp_path, write):
    out = tmp_path / "c.jsonl"
    out.write_text("previous\n")
    src = write("bad.jsonl", "not json at all\n")
    with pytest.raises(FileError):
        ingest(src, out, filename="bad.jsonl")
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "c.jsonl"]


def test_an_unexpected_error_midway_also_cleans_up(tmp_path, write):
    src = write("data.jsonl", [{"instruction": f"q{i}", "output": "a"} for i in range(50)])
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def progress(done, total, rows):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(
            src,
            out_dir / "c.jsonl",
            filename="data.jsonl",
            progress=progress,
            options=IngestOptions(progress_every=10),
        )
    assert list(out_dir.iterdir()) == []
