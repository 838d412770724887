"""Tuneforge's training engine: a pure ML package (no Django), run as ``python -m training_app.trainer``.

Entry points: ``spec.JobSpec`` / ``spec.Hyperparameters`` (validation, import-light), ``train.run_job``,
``evaluate.evaluate_model``, ``export.merge_adapter`` and ``tiny_model.build_tiny_model``.
"""
