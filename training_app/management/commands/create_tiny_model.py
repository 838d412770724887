"""Build the tiny local model (a 2-layer Llama with its own tokenizer) and register it as a base model."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from training_app.base_models import register_base_model
from training_app.trainer.tiny_model import build_tiny_model

TINY_NAME = "tiny-llama"


def ensure_tiny_model(out_dir: Path | None = None, name: str = TINY_NAME):
    out_dir = out_dir or Path(settings.MODEL_ROOTS[0]) / name
    build_tiny_model(out_dir)
    return register_base_model(name, path=str(out_dir))


class Command(BaseCommand):
    help = "Build the tiny local model under the first MODEL_ROOTS directory and register it (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--name", default=TINY_NAME)
        parser.add_argument("--out", help="Directory (default: <first model root>/<name>)")

    def handle(self, *args, name, out, **options):
        model = ensure_tiny_model(Path(out) if out else None, name)
        self.stdout.write(f"base model {model.name}: {model.path} ({model.parameter_count:,} parameters)")
