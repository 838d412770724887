"""Reading knowledge-base documents: text out of txt, md, html, pdf and docx, in sections with provenance.

A parsed document is its text plus *sections* in reading order: ``{start, end, page, headings, role}``
(``role`` is ``heading``, ``paragraph`` or ``row``; a row also has ``cells``). Offsets point into the text,
so every chunk and pair can say exactly where it came from. A file that cannot be read raises
:class:`FileError` with a code and a message a user can act on; nothing is half-kept.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from bs4 import BeautifulSoup
from charset_normalizer import from_bytes
from django.conf import settings

from ..ingest.errors import COMPRESSION_RATIO, EMPTY_FILE, TOO_LARGE, UNSUPPORTED_EXTENSION, FileError
from ..ingest.guard import RATIO_FLOOR_BYTES, megabytes

MB = 1 << 20
UNPARSABLE = "unparsable"
NO_TEXT_LAYER = "no_text_layer"
ENCRYPTED = "encrypted"
NO_TEXT = "no_text"
TEXT_FORMATS = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
QA_FORMATS = (".csv", ".xlsx", ".json", ".jsonl")
MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
MD_TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$")
BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "tr", "dt", "dd", "pre", "blockquote"]


@dataclass
class ParsedDocument:
    kind: str  # "text" or "qa_list"
    text: str = ""
    sections: list[dict] = field(default_factory=list)
    entries: list[dict] = field(default_factory=list)
    skipped: dict = field(default_factory=dict)


class _Builder:
    """Accumulates sections, joined by blank lines, tracking the heading path."""

    def __init__(self):
        self.parts: list[str] = []
        self.length = 0
        self.sections: list[dict] = []
        self.headings: list[tuple[int, str]] = []

    def add(self, text: str, *, page: int | None = None, role: str = "paragraph", **extra) -> None:
        text = text.strip()
        if not text:
            return
        if role == "heading":
            level = extra.pop("level")
            self.headings = [h for h in self.headings if h[0] < level] + [(level, text)]
            path = [h[1] for h in self.headings[:-1]]
        else:
            path = [h[1] for h in self.headings]
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        start = self.length
        self.parts.append(text)
        self.length += len(text)
        self.sections.append(
            {"start": start, "end": self.length, "page": page, "headings": path, "role": role, **extra}
        )

    def result(self) -> ParsedDocument:
        text = "".join(self.parts)
        if not text.strip():
            raise FileError(NO_TEXT, "the document holds no text")
        return ParsedDocument("text", text, self.sections)


def document_format(filename: str) -> str:
    lower = filename.lower()
    for ext in TEXT_FORMATS + QA_FORMATS:
        if lower.endswith(ext) and len(lower) > len(ext):
            return ext
    raise FileError(
        UNSUPPORTED_EXTENSION,
        f'unsupported file type "{filename}": expected {", ".join(TEXT_FORMATS + QA_FORMATS)}',
    )


def check_size(size: int) -> None:
    """The same upload limit as datasets (MAX_UPLOAD_MB)."""
    if size == 0:
        raise FileError(EMPTY_FILE, "the file is empty")
    if size > settings.MAX_UPLOAD_MB * MB:
        raise FileError(TOO_LARGE, f"the file is {size} bytes, over the limit of {settings.MAX_UPLOAD_MB} MB")


def check_zip(path: Path) -> None:
    """DOCX and XLSX are ZIP files: refuse one that would unpack past MAX_UNPACKED_MB or the ratio limit
    before any parser opens it (a bomb is judged by its directory, not by unpacking it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise FileError(UNPARSABLE, "the file is not a valid Office document (not a ZIP package)") from None
    limit = settings.MAX_UNPACKED_MB * MB
    if unpacked > limit:
        raise FileError(TOO_LARGE, f"the document unpacks to more than {megabytes(limit)}, the limit")
    ratio = settings.MAX_COMPRESSION_RATIO
    if unpacked > RATIO_FLOOR_BYTES and unpacked > ratio * max(1, path.stat().st_size):
        raise FileError(
            COMPRESSION_RATIO, f"the document unpacks to more than {ratio}:1 of its size, over the limit"
        )


def decode_text(raw: bytes) -> str:
    """Text in any common encoding (UTF-8 first, then what charset detection finds)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = from_bytes(raw).best()
    if best is None or b"\x00" in raw[:4096]:
        raise FileError(NO_TEXT, "the file is not text in any encoding that could be detected")
    return str(best)


def parse_text(raw: str, *, markdown: bool) -> ParsedDocument:
    builder = _Builder()
    paragraph: list[str] = []

    def flush() -> None:
        builder.add("\n".join(paragraph))
        paragraph.clear()

    for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.strip()
        heading = MD_HEADING.match(stripped) if markdown else None
        if heading:
            flush()
            builder.add(heading.group(2), role="heading", level=len(heading.group(1)))
        elif markdown and stripped.startswith("|") and stripped.endswith("|"):
            flush()
            if not MD_TABLE_RULE.match(stripped):
                cells = [cell.strip() for cell in stripped.strip("|").split("|")]
                builder.add(" | ".join(cells), role="row", cells=cells)
        elif not stripped:
            flush()
        else:
            paragraph.append(stripped)
    flush()
    return builder.result()


def parse_html(raw: bytes) -> ParsedDocument:
    soup = BeautifulSoup(decode_text(raw), "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    builder = _Builder()
    for element in soup.find_all(BLOCK_TAGS):
        if element.find_parent(BLOCK_TAGS):
            continue  # its text is part of the enclosing block
        if element.name == "tr":
            cells = [cell.get_text(" ", strip=True) for cell in element.find_all(["th", "td"])]
            builder.add(" | ".join(cells), role="row", cells=cells)
        elif element.name[0] == "h" and element.name[1:].isdigit():
            builder.add(element.get_text(" ", strip=True), role="heading", level=int(element.name[1:]))
        else:
            builder.add(element.get_text(" ", strip=True))
    if not builder.sections:  # a page of bare text, without block elements
        return parse_text(soup.get_text("\n"), markdown=False)
    return builder.result()


def parse_pdf(path: Path) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise FileError(ENCRYPTED, "the PDF is encrypted with a password; upload an unprotected copy")
        builder = _Builder()
        for number, page in enumerate(reader.pages, start=1):
            for block in re.split(r"\n\s*\n", page.extract_text() or ""):
                builder.add(re.sub(r"[ \t]+", " ", block), page=number)
    except FileError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise FileError(UNPARSABLE, f"the PDF cannot be read ({exc})") from None
    if not builder.sections:
        raise FileError(
            NO_TEXT_LAYER,
            f"the PDF has {len(reader.pages)} page(s) but no text layer (a scan?); run OCR on it first",
        )
    return builder.result()


def parse_docx(path: Path) -> ParsedDocument:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_zip(path)
    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as exc:
        raise FileError(UNPARSABLE, f"the DOCX cannot be read ({exc})") from None
    builder = _Builder()
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            style = (block.style.name if block.style is not None else "") or ""
            level = style.removeprefix("Heading ").strip()
            if style.startswith("Heading ") and level.isdigit():
                builder.add(block.text, role="heading", level=int(level))
            elif style == "Title":
                builder.add(block.text, role="heading", level=1)
            else:
                builder.add(block.text)
        elif isinstance(block, Table):
            for row in block.rows:
                cells = [cell.text.strip() for cell in row.cells]
                builder.add(" | ".join(cells), role="row", cells=cells)
    return builder.result()


def parse_document(path: Path, file_format: str) -> ParsedDocument:
    """Parse a text document (one of TEXT_FORMATS); QA lists go to :mod:`.qa_lists`."""
    if file_format == ".pdf":
        return parse_pdf(path)
    if file_format == ".docx":
        return parse_docx(path)
    raw = path.read_bytes()
    if raw.startswith(b"%PDF-") or raw.startswith(b"PK\x03\x04"):
        raise FileError(UNPARSABLE, f"the file is a binary document, not {file_format} text; check its name")
    if file_format in (".html", ".htm"):
        return parse_html(raw)
    return parse_text(decode_text(raw), markdown=file_format in (".md", ".markdown"))
