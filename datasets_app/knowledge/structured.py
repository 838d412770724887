"""Pairs already written in a document, parsed directly (no model involved).

Recognised, in this order of trust:

- marked pairs: ``Q:``/``A:``, ``Question:``/``Answer:``, ``问：``/``答：``, ``问题：``/``回答：`` (full- or
  half-width colons); a question or answer may run over several lines or paragraphs;
- two-column tables: each row is a question and its answer (a header row naming them is skipped);
- FAQ headings: a heading that ends in ``?`` or ``？`` followed by its body;
- markdown-style heading + body: any other heading with body text directly under it.

When a document holds marked pairs, its headings are taken as structure, not as questions. Each pair
keeps its offsets (question start to answer end), first page and heading path.
"""

from __future__ import annotations

import re

QUESTION_MARK = re.compile(r"^\s*(?:Q|Question|问|问题)\s*\d*\s*[:：]\s*", re.IGNORECASE)
ANSWER_MARK = re.compile(r"^\s*(?:A|Answer|答|回答|答案)\s*\d*\s*[:：]\s*", re.IGNORECASE)
HEADER_WORDS = {"question", "questions", "q", "answer", "answers", "a", "问题", "答案", "回答", "问", "答"}


def _lines(text: str, sections: list[dict]):
    """``(section, start, end)`` of every non-blank line, in order."""
    for section in sections:
        offset = section["start"]
        for line in text[section["start"] : section["end"]].split("\n"):
            if line.strip():
                yield section, offset, offset + len(line)
            offset += len(line) + 1


def _pair(
    text: str, question: tuple[int, int], answer: tuple[int, int], section: dict, *, q_skip=0, a_skip=0
):
    q_text = text[question[0] + q_skip : question[1]].strip()
    a_text = text[answer[0] + a_skip : answer[1]].strip()
    if not q_text or not a_text:
        return None
    return {
        "question": re.sub(r"\s*\n\s*", " ", q_text),
        "answers": [a_text],
        "start": question[0],
        "end": answer[1],
        "page": section["page"],
        "headings": section["headings"],
    }


def marked_pairs(text: str, sections: list[dict]) -> list[dict]:
    pairs: list[dict] = []
    state = None  # None, "q" or "a"
    q_span = a_span = None
    q_skip = a_skip = 0
    q_section = None

    def close() -> None:
        if state == "a" and q_span and a_span:
            pair = _pair(text, q_span, a_span, q_section, q_skip=q_skip, a_skip=a_skip)
            if pair:
                pairs.append(pair)

    for section, start, end in _lines(text, sections):
        line = text[start:end]
        if section["role"] == "heading":
            close()
            state = None
        elif match := QUESTION_MARK.match(line):
            close()
            state, q_span, q_skip, q_section = "q", (start, end), match.end(), section
        elif state is not None and (match := ANSWER_MARK.match(line)):
            if state == "q":
                state, a_span, a_skip = "a", (start, end), match.end()
            else:
                a_span = (a_span[0], end)  # a second "A:" continues the answer
        elif state == "q":
            q_span = (q_span[0], end)
        elif state == "a":
            a_span = (a_span[0], end)
    close()
    return pairs


def table_pairs(text: str, sections: list[dict]) -> list[dict]:
    pairs = []
    for section in sections:
        cells = [c for c in section.get("cells", []) if c.strip()] if section["role"] == "row" else []
        if len(section.get("cells", [])) != 2 or len(cells) != 2:
            continue
        if {c.strip().lower() for c in cells} <= HEADER_WORDS:
            continue
        pairs.append(
            {
                "question": cells[0].strip(),
                "answers": [cells[1].strip()],
                "start": section["start"],
                "end": section["end"],
                "page": section["page"],
                "headings": section["headings"],
            }
        )
    return pairs


def heading_pairs(text: str, sections: list[dict]) -> list[dict]:
    """Each heading with paragraphs directly under it (until the next heading or table row)."""
    pairs = []
    heading, body = None, []
    for section in [*sections, None]:
        if section is None or section["role"] != "paragraph":
            if heading is not None and body:
                pair = _pair(
                    text, (heading["start"], heading["end"]), (body[0]["start"], body[-1]["end"]), heading
                )
                if pair:
                    pair["headings"] = heading["headings"]
                    pairs.append(pair)
            heading, body = (
                (section, []) if section is not None and section["role"] == "heading" else (None, [])
            )
        elif heading is not None:
            body.append(section)
    return pairs


def structured_pairs(text: str, sections: list[dict]) -> list[dict]:
    """Every pair the document spells out, in reading order."""
    marked = marked_pairs(text, sections)
    pairs = marked + table_pairs(text, sections)
    if not marked:
        pairs += heading_pairs(text, sections)
    return sorted(pairs, key=lambda pair: pair["start"])
