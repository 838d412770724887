"""The ingest engine: uploads in, canonical JSON lines out (see docs/canonical-format.md).

Pure Python, no Django: the web layer calls these functions and maps :class:`FileError` to HTTP 400.
"""

from .errors import FileError, IngestError, OverBudget, RowError
from .files import EXTENSIONS, safe_filename
from .formats import FORMATS, ColumnMapping
from .ops import MixResult, SplitResult, count_rows, fill_placeholders, mix, preview, split, split_indices
from .pipeline import IngestOptions, IngestResult, ingest
from .presets import get_preset, list_presets, preset_path, render_preset

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "ColumnMapping",
    "FileError",
    "IngestError",
    "IngestOptions",
    "IngestResult",
    "MixResult",
    "OverBudget",
    "RowError",
    "SplitResult",
    "count_rows",
    "fill_placeholders",
    "get_preset",
    "ingest",
    "list_presets",
    "mix",
    "preset_path",
    "preview",
    "render_preset",
    "safe_filename",
    "split",
    "split_indices",
]
