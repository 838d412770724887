"""Extraction runs in the background on the shared runner (``llm_platform.jobs``), on the queue ``default``.

A structured run parses the pairs the documents spell out and imports QA lists; a generated run cuts the
text documents into chunks and has a language model write pairs for each. Progress and a log go to the
row and, live, to the organization's open pages (``kb.extraction`` over the org websocket).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from llm_platform.consumers import notify_org
from llm_platform.jobs import JobFailed, JobRunner

from ..ingest.errors import FileError
from ..processing import load_tokenizer
from .chunking import chunk_document, estimate_tokens, tokenizer_counter
from .generated import ChunkResult, GenerationOptions, Generator
from .models import Chunk, DocumentKind, ExtractionMode, ExtractionRun, KnowledgeDocument, QAPair
from .secrets import decrypt
from .structured import structured_pairs

GENERATION_KEYS = (
    "prompt",
    "language",
    "pairs_per_chunk",
    "concurrency",
    "retries",
    "min_overlap",
    "max_tokens",
)


class ExtractionRunner(JobRunner):
    model = ExtractionRun
    prefix = "kb-extract"
    task = "datasets_app.knowledge.extraction.run_extraction"

    def notify(self) -> None:
        run = self.job
        payload = {
            "type": "kb.extraction",
            "run": run.pk,
            "knowledge_base": run.knowledge_base_id,
            "status": run.status,
            "progress": run.progress,
            "message": run.message,
            "counts": run.counts,
        }
        transaction.on_commit(lambda: notify_org(run.organization_id, payload))

    def documents(self):
        run = self.job
        documents = KnowledgeDocument.objects.filter(knowledge_base_id=run.knowledge_base_id)
        if run.options.get("documents"):
            documents = documents.filter(pk__in=run.options["documents"])
        return list(documents.order_by("created_at", "id"))

    def execute(self) -> str:
        documents = self.documents()
        if not documents:
            raise JobFailed("The knowledge base has no documents to extract from.")
        if self.job.mode == ExtractionMode.STRUCTURED:
            return self.structured(documents)
        return self.generated([d for d in documents if d.kind == DocumentKind.TEXT])

    # -- structured -------------------------------------------------------------------------------
    def structured(self, documents: list[KnowledgeDocument]) -> str:
        counts = {"pairs": 0, "already_there": 0, "skipped_entries": {}}
        for number, document in enumerate(documents, start=1):
            if document.kind == DocumentKind.QA_LIST:
                found = [{**entry, "source": "imported"} for entry in document.entries]
                for reason, count in document.skipped.items():
                    counts["skipped_entries"][reason] = counts["skipped_entries"].get(reason, 0) + count
                    self.log_line(
                        f"{document.filename}: skipped {count} entries ({reason.replace('_', ' ')})"
                    )
            else:
                found = [
                    {**pair, "source": "structured"}
                    for pair in structured_pairs(document.text, document.sections)
                ]
            made = self.save_pairs(document, found)
            counts["pairs"] += made
            counts["already_there"] += len(found) - made
            self.log_line(f"{document.filename}: {made} pairs")
            self.job.counts = counts
            self.set_progress(number / len(documents), f"{number} of {len(documents)} documents read")
        self._update(counts=counts)
        return f"{counts['pairs']} pairs from {len(documents)} documents."

    def save_pairs(self, document: KnowledgeDocument, found: list[dict], chunk: Chunk | None = None) -> int:
        """Store new pairs (a question already pending or reviewed for this document is not repeated)."""
        known = (
            set(
                QAPair.objects.filter(document=document)
                .filter(Q(run__isnull=True) | ~Q(run=self.job))
                .values_list("question", flat=True)
            )
            if chunk is None
            else set()
        )
        pairs = []
        for item in found:
            if item["question"] in known:
                continue
            known.add(item["question"])
            pairs.append(
                QAPair(
                    organization_id=self.job.organization_id,
                    knowledge_base_id=self.job.knowledge_base_id,
                    document=document,
                    run=self.job,
                    chunk=chunk,
                    question=item["question"],
                    answers=item["answers"],
                    source=item["source"],
                    flagged=bool(item.get("flag_reason")),
                    flag_reason=item.get("flag_reason", "")[:300],
                    page=item.get("page"),
                    headings=item.get("headings", []),
                    start=item.get("start"),
                    end=item.get("end"),
                    line=item.get("line"),
                )
            )
        QAPair.objects.bulk_create(pairs)
        return len(pairs)

    # -- generated --------------------------------------------------------------------------------
    def generated(self, documents: list[KnowledgeDocument]) -> str:
        kb = self.job.knowledge_base
        if not kb.has_llm:
            raise JobFailed("Set the knowledge base's language-model endpoint first (an org admin can).")
        if not documents:
            raise JobFailed(
                "Generated extraction needs text documents; QA lists are imported by a structured run."
            )
        options = self.job.options
        count = estimate_tokens
        if options.get("tokenizer"):
            try:
                count = tokenizer_counter(load_tokenizer(options["tokenizer"]))
            except FileError as exc:
                raise JobFailed(f"Cannot count tokens: {exc.message}.") from None
        chunks = []
        for document in documents:
            specs = chunk_document(
                document.text,
                document.sections,
                target=options.get("chunk_tokens", 400),
                overlap=options.get("overlap_tokens", 40),
                count=count,
            )
            chunks += Chunk.objects.bulk_create(
                Chunk(
                    run=self.job,
                    document=document,
                    index=index,
                    text=spec.text,
                    start=spec.start,
                    end=spec.end,
                    page=spec.page,
                    headings=spec.headings,
                    tokens=spec.tokens,
                )
                for index, spec in enumerate(specs)
            )
        self.log_line(f"{len(chunks)} chunks from {len(documents)} documents")
        generator = Generator(
            kb.llm_base_url,
            decrypt(kb.llm_key_encrypted),
            kb.llm_model,
            GenerationOptions(**{k: options[k] for k in GENERATION_KEYS if k in options}),
        )
        counts = {"chunks": len(chunks), "pairs": 0, "flagged": 0, "chunks_skipped": 0, "retried": 0}
        done = 0

        def record(index: int, result: ChunkResult) -> None:
            nonlocal done
            chunk = chunks[index]
            done += 1
            counts["retried"] += result.attempts - 1
            if result.error:
                counts["chunks_skipped"] += 1
                self.log_line(
                    f"chunk {chunk.index} of {chunk.document.filename} skipped after "
                    f"{result.attempts} attempts: {result.error}"
                )
            found = [
                {
                    **pair,
                    "source": "generated",
                    "page": chunk.page,
                    "headings": chunk.headings,
                    "start": chunk.start,
                    "end": chunk.end,
                }
                for pair in result.pairs
            ]
            counts["pairs"] += self.save_pairs(chunk.document, found, chunk)
            counts["flagged"] += sum(1 for pair in found if pair.get("flag_reason"))
            self.job.counts = counts
            if not self.set_progress(done / len(chunks), f"{done} of {len(chunks)} chunks"):
                raise JobFailed("The run was stopped.")

        generator.run([chunk.text for chunk in chunks], record)
        self._update(counts=counts)
        return (
            f"{counts['pairs']} pairs from {len(chunks)} chunks "
            f"({counts['chunks_skipped']} skipped, {counts['flagged']} flagged)."
        )


def requeue_lost_extractions() -> list[int]:
    """Runs whose RQ job vanished (Redis flushed, worker killed) are queued again (``manage.py reconcile``)."""
    return ExtractionRunner.requeue_lost(settings.DATASET_STALL_SECONDS)


def run_extraction(run_id: int) -> str:
    """The RQ task: see :class:`ExtractionRunner`."""
    return ExtractionRunner.handle(run_id)
