"""Demo content for `make up`: the tiny local base model, ready to train on."""


def demo_setup(org, out) -> None:
    from training_app.management.commands.create_tiny_model import ensure_tiny_model

    model = ensure_tiny_model()
    out.write(f"Base model ready: {model.name} ({model.path})")
