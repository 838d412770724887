"""The hostile-file corpus: over a hundred uploads a careless or hostile client may send, built here.

Each :class:`Case` is a file name as sent, its bytes, and what must happen: ``accept`` (the file is
fine), or a refusal with the engine's ``code`` and a fragment of the message that tells the user what
to fix. Nothing binary is committed: every file is generated from a few lines of Python.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
import zlib
from dataclasses import dataclass

ACCEPT = "accept"


@dataclass(frozen=True)
class Case:
    id: str
    filename: str
    content: bytes
    code: str = ACCEPT  # the refusal's code, or "accept"
    says: str = ""  # a fragment the refusal's message must hold

    @property
    def accepted(self) -> bool:
        return self.code == ACCEPT


def rows(n: int = 20, start: int = 0) -> list[dict]:
    return [
        {"instruction": f"Question {i}?", "input": "", "output": f"Answer {i}."}
        for i in range(start, start + n)
    ]


def jsonl(items) -> bytes:
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items).encode()


GOOD = jsonl(rows())
SHAREGPT = [
    {"conversations": [{"from": "human", "value": f"Hi {i}"}, {"from": "gpt", "value": f"Hello {i}"}]}
    for i in range(10)
]
OPENAI = [
    {"messages": [{"role": "user", "content": f"Q{i}"}, {"role": "assistant", "content": f"A{i}"}]}
    for i in range(10)
]
PREFERENCE = [{"prompt": f"P{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(10)]
TEXT = "\n\n".join(f"Document {i}.\nIt has two lines." for i in range(10)).encode()


def _zip(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def _gzip_bomb(block: bytes, megabytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = block * ((1 << 20) // len(block))
    return b"".join(compressor.compress(chunk) for _ in range(megabytes)) + compressor.flush()


def _bad_crc(data: bytes) -> bytes:
    packed = bytearray(gzip.compress(data))
    packed[-8] ^= 0xFF
    return bytes(packed)


def _cases() -> list[Case]:
    good_gz = gzip.compress(GOOD)
    utf16_text = GOOD.decode()
    c = Case
    return [
        # --- files that are fine ---
        c("alpaca", "data.jsonl", GOOD),
        c("sharegpt-array", "data.json", json.dumps(SHAREGPT).encode()),
        c("openai", "chat.jsonl", jsonl(OPENAI)),
        c("preference", "pairs.jsonl", jsonl(PREFERENCE)),
        c("text", "docs.txt", TEXT),
        c(
            "chinese",
            "中文数据.jsonl",
            jsonl([{"instruction": f"问题{i}", "output": f"回答{i}"} for i in range(10)]),
        ),
        c(
            "emoji-pair",
            "emoji.jsonl",
            b"".join(b'{"instruction": "\\ud83d\\ude00 %d", "output": "ok"}\n' % i for i in range(10)),
        ),
        c(
            "escaped-nul",
            "nul-escaped.jsonl",
            jsonl([{"instruction": f"a\u0000b {i}", "output": "ok"} for i in range(10)]),
        ),
        c("utf8-bom-jsonl", "bom.jsonl", b"\xef\xbb\xbf" + GOOD),
        c("utf8-bom-array", "bom.json", b"\xef\xbb\xbf" + json.dumps(rows()).encode()),
        c("utf8-bom-text", "bom.txt", b"\xef\xbb\xbf" + TEXT),
        c("crlf", "crlf.jsonl", GOOD.replace(b"\n", b"\r\n")),
        c("mixed-line-ends", "mixed.jsonl", GOOD.replace(b"\n", b"\r\n", 5)),
        c("cr-only-array", "cr.json", json.dumps(rows(), indent=1).replace("\n", "\r").encode()),
        c("no-final-newline", "last.jsonl", GOOD.rstrip(b"\n")),
        c("blank-lines-between", "blanks.jsonl", GOOD.replace(b"\n", b"\n\n\n")),
        c("one-truncated-row", "cut-last.jsonl", GOOD + b'{"instruction": "cut'),
        c("one-deep-row", "deep-one.jsonl", GOOD + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"\n"),
        c("one-wrong-type-row", "one-bad.jsonl", GOOD + jsonl([{"instruction": 5, "output": "x"}])),
        c("huge-float-row", "inf.jsonl", GOOD + b'{"instruction": 1e999, "output": "x"}\n'),
        c("gzip", "data.jsonl.gz", good_gz),
        c("gzip-array", "data.json.gz", gzip.compress(json.dumps(rows()).encode())),
        c(
            "gzip-multi-member",
            "multi.jsonl.gz",
            gzip.compress(jsonl(rows(10))) + gzip.compress(jsonl(rows(10, 10))),
        ),
        c("upper-case-ext", "DATA.JSONL", GOOD),
        c("spaces-in-name", "my data set.jsonl", GOOD),
        c("dots-in-name", "v1.2.final.jsonl", GOOD),
        c("pretty-array", "pretty.json", json.dumps(rows(), indent=2).encode()),
        # --- malformed and truncated JSON ---
        c(
            "truncated-line",
            "cut.jsonl",
            b'{"instruction": "a", "output": ',
            "not_json",
            "line 1: not valid JSON",
        ),
        c(
            "garbage-text",
            "notes.jsonl",
            b"hello world\nthis is not json\n",
            "not_json",
            "line 1: not valid JSON",
        ),
        c("half-bad", "half.jsonl", GOOD[: len(GOOD) // 2] + b"x\n" * 20, "too_many_bad_rows", "rows"),
        c("array-not-closed", "open.json", json.dumps(rows())[:-1].encode(), "not_json", "not closed"),
        c("array-cut", "cut.json", json.dumps(rows()).encode()[:-30], "not_json", "line 1"),
        c(
            "array-trailing-comma",
            "comma.json",
            b'[{"instruction": "a", "output": "b"},]',
            "not_json",
            "item 1",
        ),
        c("array-extra-data", "extra.json", json.dumps(rows()).encode() + b" []", "not_json", "extra data"),
        c(
            "array-missing-comma",
            "nocomma.json",
            b'[{"instruction": "a", "output": "b"} {"instruction": "c", "output": "d"}]',
            "not_json",
            "expecting ','",
        ),
        c(
            "single-object",
            "one.json",
            json.dumps(SHAREGPT[0], indent=2).encode(),
            "wrong_top_level",
            "single JSON object",
        ),
        c("scalar-number", "n.json", b"42", "wrong_top_level", "found a number"),
        c("scalar-string", "s.json", b'"hello"', "wrong_top_level", "found a string"),
        c("scalar-null", "null.json", b"null", "wrong_top_level", "found null"),
        c("scalar-true", "t.jsonl", b"true\n", "wrong_top_level", "found a boolean"),
        c("lines-of-strings", "strs.jsonl", b'"a"\n"b"\n', "wrong_top_level", "found a string"),
        c("lines-of-arrays", "arrs.jsonl", b"[1, 2]\n[3, 4]\n", "not_json", "extra data"),
        c(
            "single-quotes",
            "py.jsonl",
            b"{'instruction': 'a', 'output': 'b'}\n" * 3,
            "not_json",
            "property name",
        ),
        c("python-none", "none.jsonl", b'{"instruction": "a", "output": None}\n' * 3, "not_json", "line 1"),
        c("nan-literal-text", "nan.jsonl", b'{"instruction": "a", "output": "b", "x": NaN}\n' + GOOD, ACCEPT),
        c("empty-object-lines", "empty-objects.jsonl", b"{}\n" * 5, "unknown_format", "format"),
        # --- wrong types ---
        c(
            "instruction-number",
            "num.jsonl",
            jsonl([{"instruction": i, "output": "x"} for i in range(10)]),
            "too_many_bad_rows",
            "instruction",
        ),
        c(
            "output-null",
            "null-out.jsonl",
            jsonl([{"instruction": f"q{i}", "output": None} for i in range(10)]),
            "too_many_bad_rows",
            "output",
        ),
        c(
            "conversations-string",
            "conv.jsonl",
            jsonl([{"conversations": "hi"} for _ in range(10)]),
            "unknown_format",
            "conversations",
        ),
        c(
            "messages-role-int",
            "roles.jsonl",
            jsonl([{"messages": [{"role": 1, "content": "x"}]} for _ in range(10)]),
            "too_many_bad_rows",
            "role",
        ),
        c(
            "unknown-columns",
            "cols.jsonl",
            jsonl([{"foo": i, "bar": "x"} for i in range(10)]),
            "unknown_format",
            "foo",
        ),
        c(
            "chosen-missing",
            "pref.jsonl",
            jsonl([{"prompt": "p", "rejected": f"r{i}"} for i in range(10)]),
            "unknown_format",
            "format",
        ),
        c("array-of-numbers", "nums.json", b"[1, 2, 3]", "unknown_format", "format"),
        c("array-of-strings", "strs.json", b'["a", "b"]', "unknown_format", "format"),
        c("array-of-arrays", "arrs.json", b"[[1], [2]]", "unknown_format", "format"),
        # --- nesting, huge lines and numbers ---
        c(
            "deep-first-line",
            "deep.jsonl",
            b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n",
            "not_json",
            "nested too deeply",
        ),
        c(
            "deep-array-item",
            "deep.json",
            b"[" + b"[" * 100_000 + b"]" * 100_000 + b"]",
            "not_json",
            "nested too deeply",
        ),
        c(
            "huge-line",
            "long.jsonl",
            b'{"instruction": "' + b"x" * (1100 * 1024) + b'", "output": "y"}\n',
            "line_too_long",
            "longer than the limit",
        ),
        c(
            "huge-array-item",
            "long.json",
            b'[{"instruction": "' + b"x" * (1100 * 1024) + b'", "output": "y"}]',
            "line_too_long",
            "longer than the limit",
        ),
        c(
            "huge-document",
            "long.txt",
            (b"word " * 9 + b"\n") * 25_000,  # short lines, no blank line: one document, over 1 MB
            "line_too_long",
            "longer than the limit",
        ),
        c(
            "huge-int-first-line",
            "bigint.jsonl",
            b'{"instruction": ' + b"9" * 5000 + b', "output": "y"}\n',
            "not_json",
            "line 1",
        ),
        c(
            "huge-int-array",
            "bigint.json",
            b'[{"instruction": ' + b"9" * 5000 + b', "output": "y"}]',
            "not_json",
            "item 0",
        ),
        # --- NUL bytes ---
        c(
            "nul-first-line",
            "nul-inside.jsonl",
            b'{"instruction": "a\x00b", "output": "c"}\n' + GOOD,
            "not_text",
            "NUL bytes",
        ),
        c("nul-start", "nul2.jsonl", b"\x00\x00\x00\x00" + GOOD, "not_text", "NUL bytes"),
        c("nul-text", "zero.txt", b"hello\x00world\n", "not_text", "NUL bytes"),
        c("nul-array", "zero.json", b"[\x00]", "not_text", "NUL bytes"),
        # --- invalid and surrogate Unicode ---
        c(
            "invalid-utf8",
            "bad.jsonl",
            GOOD[:100] + b"\xff\xfe\xfd" + GOOD[100:],
            "not_utf8",
            "not valid UTF-8",
        ),
        c(
            "latin1",
            "latin1.jsonl",
            '{"instruction": "café", "output": "crème"}\n'.encode("latin-1") * 3,
            "not_utf8",
            "line 1",
        ),
        c(
            "overlong-utf8",
            "overlong.jsonl",
            b'{"instruction": "\xc0\xaf", "output": "x"}\n',
            "not_utf8",
            "not valid UTF-8",
        ),
        c(
            "raw-surrogate-bytes",
            "cesu.jsonl",
            b'{"instruction": "\xed\xa0\x80", "output": "x"}\n',
            "not_utf8",
            "not valid UTF-8",
        ),
        c(
            "truncated-utf8-at-end",
            "cut-utf8.jsonl",
            GOOD + '{"instruction": "中'.encode()[:-1],
            "not_utf8",
            "not valid UTF-8",
        ),
        c(
            "invalid-utf8-array",
            "bad.json",
            b'[{"instruction": "\xff", "output": "x"}]',
            "not_utf8",
            "not valid UTF-8",
        ),
        c("invalid-utf8-text", "bad.txt", b"hello \xff world\n", "not_utf8", "not valid UTF-8"),
        c(
            "lone-surrogates",
            "lone.jsonl",
            b"".join(b'{"instruction": "\\ud800 %d", "output": "x"}\n' % i for i in range(10)),
            "too_many_bad_rows",
            "surrogate",
        ),
        c(
            "lone-surrogate-one-row",
            "lone-one.jsonl",
            GOOD + b'{"instruction": "\\udc00", "output": "x"}\n',
            ACCEPT,
        ),
        # --- BOMs and UTF-16/32 ---
        c("utf16le-bom", "u16.jsonl", utf16_text.encode("utf-16"), "not_utf8", "UTF-16"),
        c("utf16be-bom", "u16be.jsonl", b"\xfe\xff" + utf16_text.encode("utf-16-be"), "not_utf8", "UTF-16"),
        c("utf16le-no-bom", "u16le.jsonl", utf16_text.encode("utf-16-le"), "not_utf8", "UTF-16"),
        c("utf16be-no-bom", "u16be2.jsonl", utf16_text.encode("utf-16-be"), "not_utf8", "UTF-16"),
        c("utf16-array", "u16.json", json.dumps(rows()).encode("utf-16"), "not_utf8", "UTF-16"),
        c("utf16-array-no-bom", "u16b.json", json.dumps(rows()).encode("utf-16-le"), "not_utf8", "UTF-16"),
        c("utf16-text", "u16.txt", TEXT.decode().encode("utf-16"), "not_utf8", "UTF-16"),
        c("utf16-gzip", "u16.jsonl.gz", gzip.compress(utf16_text.encode("utf-16")), "not_utf8", "UTF-16"),
        c("utf32le-bom", "u32.jsonl", utf16_text.encode("utf-32"), "not_utf8", "UTF-32"),
        c(
            "utf32be-bom",
            "u32be.jsonl",
            b"\x00\x00\xfe\xff" + utf16_text.encode("utf-32-be"),
            "not_utf8",
            "UTF-32",
        ),
        c("double-bom", "bom2.jsonl", b"\xef\xbb\xbf\xef\xbb\xbf" + GOOD, "not_json", "line 1"),
        # --- line ends ---
        c("cr-only", "mac.jsonl", GOOD.replace(b"\n", b"\r"), "cr_line_ends", "CR-only line ends"),
        c("cr-only-text", "mac.txt", TEXT.replace(b"\n", b"\r"), "cr_line_ends", "CR-only line ends"),
        c(
            "cr-only-gzip",
            "mac.jsonl.gz",
            gzip.compress(GOOD.replace(b"\n", b"\r")),
            "cr_line_ends",
            "CR-only line ends",
        ),
        # --- other formats renamed ---
        c("zip-as-jsonl", "data.jsonl", _zip("data.jsonl", GOOD), "not_text", "ZIP archive"),
        c("zip-as-json", "data.json", _zip("data.json", GOOD), "not_text", "ZIP archive"),
        c("empty-zip", "empty.jsonl", _zip("x", b"")[-22:], "not_text", "ZIP archive"),
        c("png-as-jsonl", "image.jsonl", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "not_text", "PNG image"),
        c(
            "jpeg-as-json",
            "photo.json",
            b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 64,
            "not_text",
            "JPEG image",
        ),
        c("gif-as-txt", "anim.txt", b"GIF89a" + b"\x01" * 64, "not_text", "GIF image"),
        c(
            "pdf-as-jsonl",
            "paper.jsonl",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
            "not_text",
            "PDF document",
        ),
        c(
            "html-as-jsonl",
            "page.jsonl",
            b"<!DOCTYPE html>\n<html><body>Not found</body></html>\n",
            "not_text",
            "HTML page",
        ),
        c("html-as-json", "page.json", b"  \n<html lang='en'><head></head></html>", "not_text", "HTML page"),
        c("xml-as-json", "feed.json", b'<?xml version="1.0"?><rss></rss>', "not_text", "XML document"),
        c("elf-as-jsonl", "prog.jsonl", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, "not_text", "ELF"),
        c("sqlite-as-json", "db.json", b"SQLite format 3\x00" + b"\x00" * 64, "not_text", "SQLite"),
        c("xz-as-jsonl", "data.jsonl", b"\xfd7zXZ\x00" + b"\x00" * 32, "not_text", "xz-compressed"),
        c("zstd-as-jsonl", "data.jsonl", b"(\xb5/\xfd" + b"\x00" * 32, "not_text", "zstd-compressed"),
        c("bzip2-as-jsonl", "data.jsonl", b"BZh91AY&SY" + b"\x00" * 32, "not_text", "bzip2-compressed"),
        c("7z-as-json", "data.json", b"7z\xbc\xaf\x27\x1c" + b"\x00" * 32, "not_text", "7-Zip"),
        c("gzip-as-jsonl", "data.jsonl", good_gz, "not_utf8", "name it .jsonl.gz"),
        c("plain-as-gz", "data.jsonl.gz", GOOD, "not_gzip", "not gzip-compressed"),
        c("zip-as-gz", "data.jsonl.gz", _zip("data.jsonl", GOOD), "not_gzip", "not gzip-compressed"),
        c("gzip-twice", "twice.jsonl.gz", gzip.compress(good_gz), "not_gzip", "compressed twice"),
        # --- gzip damage and bombs ---
        c("gzip-truncated", "cut.jsonl.gz", good_gz[: len(good_gz) // 2], "not_gzip", "damaged"),
        c("gzip-bad-crc", "crc.jsonl.gz", _bad_crc(GOOD), "not_gzip", "damaged"),
        c("gzip-trailing-garbage", "tail.jsonl.gz", good_gz + b"garbage!", "not_gzip", "damaged"),
        c("gzip-header-only", "head.jsonl.gz", good_gz[:10], "not_gzip", "damaged"),
        c("gzip-of-nothing", "nothing.jsonl.gz", gzip.compress(b""), "empty_file", "no rows"),
        c(
            "gzip-bomb-blank-lines",
            "bomb.jsonl.gz",
            _gzip_bomb(b"\n", 64),
            "compression_ratio",
            "times its compressed size",
        ),
        c(
            "gzip-bomb-spaces",
            "bomb.json.gz",
            _gzip_bomb(b" ", 64),
            "compression_ratio",
            "times its compressed size",
        ),
        c(
            "gzip-bomb-repeated-row",
            "rows.jsonl.gz",
            _gzip_bomb(jsonl(rows(1)), 32),
            "compression_ratio",
            "limit of 100:1",
        ),
        # --- empty files ---
        c("empty-jsonl", "empty.jsonl", b"", "empty_file", "empty"),
        c("empty-json", "empty.json", b"", "empty_file", "empty"),
        c("empty-txt", "empty.txt", b"", "empty_file", "empty"),
        c("empty-gz", "empty.jsonl.gz", b"", "empty_file", "empty"),
        c("only-newlines", "blank.jsonl", b"\n" * 1000, "empty_file", "no rows"),
        c("only-spaces", "spaces.txt", b"   \n \t \n", "empty_file", "no rows"),
        c("empty-array", "none.json", b"[]", "empty_file", "no rows"),
        # --- path tricks and odd names ---
        c("traversal", "../x.jsonl", GOOD, "bad_filename", "must not contain a path"),
        c("traversal-deep", "../../../etc/cron.d/x.jsonl", GOOD, "bad_filename", "must not contain a path"),
        c("absolute", "/etc/passwd.jsonl", GOOD, "bad_filename", "must not contain a path"),
        c("backslash", "..\\..\\x.jsonl", GOOD, "bad_filename", "must not contain a path"),
        c("windows-drive", "C:\\data\\x.jsonl", GOOD, "bad_filename", "must not contain a path"),
        c("control-char", "a\x01b.jsonl", GOOD, "bad_filename", "control character"),
        c("tab-in-name", "a\tb.jsonl", GOOD, "bad_filename", "control character"),
        c("escape-in-name", "\x1b[31mred.jsonl", GOOD, "bad_filename", "control character"),
        c("rtl-override", "evil\u202elsonj.exe.jsonl", GOOD, "bad_filename", "control character"),
        c("long-name", "x" * 300 + ".jsonl", GOOD, "bad_filename", "longer than 255 bytes"),
        c("long-unicode-name", "数" * 90 + ".jsonl", GOOD, "bad_filename", "longer than 255 bytes"),
        c("leading-space", " data.jsonl", GOOD, "bad_filename", "whitespace"),
        c("reserved-con", "CON.jsonl", GOOD, "bad_filename", "reserved"),
        c("reserved-nul", "nul.json", b"[]", "bad_filename", "reserved"),
        c("reserved-com1", "com1.txt", TEXT, "bad_filename", "reserved"),
        c("reserved-lpt9", "LPT9.jsonl.gz", good_gz, "bad_filename", "reserved"),
        c("no-extension", "data", GOOD, "unsupported_extension", "unsupported file type"),
        c("only-extension", ".jsonl", GOOD, "unsupported_extension", "unsupported file type"),
        c("exe", "setup.exe", b"MZ" + b"\x00" * 64, "unsupported_extension", "unsupported file type"),
        c("csv", "data.csv", b"instruction,output\na,b\n", "unsupported_extension", "unsupported file type"),
        c("trailing-dot", "data.jsonl.", GOOD, "unsupported_extension", "unsupported file type"),
        c("double-ext-trick", "data.jsonl.php", GOOD, "unsupported_extension", "unsupported file type"),
    ]


CORPUS: list[Case] = _cases()
