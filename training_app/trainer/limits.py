"""The sane range of every hyperparameter, and the caps on how big one run may be.

One table for every place that checks or documents a value: the trainer's spec validation, the job
service (portal form, REST API and Bisheng-compatible API all call it), the form's inputs and help
texts, and the API's descriptions. Pure Python: the trainer imports it without Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Errors = list[tuple[str, str]]


@dataclass(frozen=True)
class Bound:
    """A closed range unless an end is marked open (that end itself is refused)."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def words(self) -> str:
        """The range for a message or a help text: "from 1 to 1024", "above 0 and at most 100"."""
        low, high = _number(self.low), _number(self.high)
        if self.low_open and self.high_open:
            return f"between {low} and {high} (exclusive)"
        start = f"above {low}" if self.low_open else f"at least {low}"
        end = f"below {high}" if self.high_open else f"at most {high}"
        if not self.low_open and not self.high_open:
            return f"from {low} to {high}"
        return f"{start} and {end}"


# Ranges: far beyond what a fine-tune needs, well short of what would stall a worker or fill a disk.
BOUNDS: dict[str, Bound] = {
    "learning_rate": Bound(0, 1, low_open=True, high_open=True),
    "num_train_epochs": Bound(0, 100, low_open=True),
    "max_steps": Bound(1, 1_000_000),  # or -1: train for num_train_epochs
    "per_device_train_batch_size": Bound(1, 1024),
    "gradient_accumulation_steps": Bound(1, 1024),
    "max_seq_len": Bound(8, 131_072),
    "val_ratio": Bound(0, 1, high_open=True),
    "warmup_ratio": Bound(0, 1, high_open=True),
    "weight_decay": Bound(0, 1),
    "max_grad_norm": Bound(0, 1000, low_open=True),
    "logging_steps": Bound(1, 100_000),
    "save_steps": Bound(1, 1_000_000),
    "eval_steps": Bound(1, 1_000_000),
    "lora_rank": Bound(1, 1024),
    "lora_alpha": Bound(0, 4096, low_open=True),
    "lora_dropout": Bound(0, 1, high_open=True),
    "freeze_trainable_layers": Bound(-1000, 1000),  # not 0: N > 0 the last N layers, N < 0 the first -N
    "pref_beta": Bound(0, 10, low_open=True),
    "eval_max_new_tokens": Bound(1, 4096),
    "max_eval_samples": Bound(1, 10_000),
}
MAX_TEXT_LENGTH = 500  # module-name lists (lora_target, freeze_trainable_modules)
SEED_BOUND = Bound(0, 2**31 - 1)  # the job's seed column is a signed 32-bit integer

# Caps on one run, estimated at creation from the data: a run beyond them is a typo, not a plan. The
# default intervals (save and eval every 100 steps, log every 5) stay within them up to MAX_TOTAL_STEPS.
MAX_TOTAL_STEPS = 1_000_000
MAX_TRAINING_TOKENS = 100_000_000_000
MAX_CHECKPOINTS = 10_000
MAX_EVALUATIONS = 10_000
MAX_LOG_POINTS = 200_000


def bound_errors(values: dict[str, object], skip: set[str]) -> Errors:
    """``(field, message)`` for every numeric value outside its range (``skip``: already reported)."""
    errors: Errors = []
    for name, bound in BOUNDS.items():
        value = values.get(name)
        if name in skip or not isinstance(value, int | float):
            continue
        if name == "max_steps" and value == -1:
            continue
        if not bound.contains(value):
            extra = " (or -1 to use num_train_epochs)" if name == "max_steps" else ""
            errors.append((name, f"must be {bound.words()}{extra}"))
    return errors


@dataclass(frozen=True)
class RunEstimate:
    """What a run will do, from its settings and the rows it trains on (an upper bound: examples are
    counted at full ``max_seq_len``)."""

    rows: int
    devices: int
    examples_per_step: int
    steps: int
    tokens: int
    checkpoints: int
    evaluations: int
    log_points: int


def estimate_run(hp, rows: int, devices: int = 1) -> RunEstimate:
    """``hp`` is a valid ``Hyperparameters``; ``rows`` the training rows, ``devices`` the processes."""
    rows, devices = max(1, rows), max(1, devices)
    per_step = hp.per_device_train_batch_size * hp.gradient_accumulation_steps * devices
    train_rows = max(1, math.floor(rows * (1 - hp.val_ratio)))
    if hp.max_steps > 0:
        steps = hp.max_steps
        passes = steps * per_step / train_rows
    else:
        steps = math.ceil(train_rows * hp.num_train_epochs / per_step)
        passes = hp.num_train_epochs
    return RunEstimate(
        rows=train_rows,
        devices=devices,
        examples_per_step=per_step,
        steps=steps,
        tokens=steps * per_step * hp.max_seq_len,
        checkpoints=_occurrences(hp.save_strategy, hp.save_steps, steps, passes),
        evaluations=_occurrences(hp.eval_strategy, hp.eval_steps, steps, passes),
        log_points=steps // hp.logging_steps,
    )


def run_size_errors(hp, rows: int, devices: int = 1) -> Errors:
    """Refusals for a run that is absurd for its data: too many steps, tokens, checkpoints or evaluations."""
    run = estimate_run(hp, rows, devices)
    errors: Errors = []
    length_field = "max_steps" if hp.max_steps > 0 else "num_train_epochs"
    how = (
        f"max_steps {hp.max_steps}"
        if hp.max_steps > 0
        else f"{run.rows:,} rows x {_number(hp.num_train_epochs)} epochs / "
        f"({hp.per_device_train_batch_size} batch x {hp.gradient_accumulation_steps} accumulation"
        f" x {run.devices} device{'s' if run.devices != 1 else ''})"
    )
    if run.steps > MAX_TOTAL_STEPS:
        errors.append(
            (
                length_field,
                f"the run would take {run.steps:,} optimizer steps ({how}); at most {MAX_TOTAL_STEPS:,}"
                " are allowed: lower it or raise the batch size",
            )
        )
    elif run.tokens > MAX_TRAINING_TOKENS:
        errors.append(
            (
                "max_seq_len",
                f"the run could process up to {run.tokens:,} tokens ({run.steps:,} steps x"
                f" {run.examples_per_step:,} examples x {hp.max_seq_len} tokens); at most"
                f" {MAX_TRAINING_TOKENS:,} are allowed: lower max_seq_len, the batch size or {length_field}",
            )
        )
    if run.steps <= MAX_TOTAL_STEPS:
        errors += _count_error("save_steps", "checkpoints", run.checkpoints, MAX_CHECKPOINTS, run.steps, hp)
        errors += _count_error("eval_steps", "evaluations", run.evaluations, MAX_EVALUATIONS, run.steps, hp)
        if run.log_points > MAX_LOG_POINTS:
            errors.append(
                (
                    "logging_steps",
                    f"would log {run.log_points:,} times over {run.steps:,} steps; at most"
                    f" {MAX_LOG_POINTS:,}: use at least {math.ceil(run.steps / MAX_LOG_POINTS)}",
                )
            )
    return errors


def _count_error(field: str, noun: str, count: int, cap: int, steps: int, hp) -> Errors:
    if count <= cap:
        return []
    strategy = "save_strategy" if noun == "checkpoints" else "eval_strategy"
    if getattr(hp, strategy) == "epoch":
        return [
            (strategy, f"would write {noun} {count:,} times (once per pass); at most {cap:,}: use 'steps'")
        ]
    verb = "write" if noun == "checkpoints" else "run"
    return [
        (
            field,
            f"would {verb} {count:,} {noun} over {steps:,} steps; at most {cap:,}:"
            f" use at least {math.ceil(steps / cap)}",
        )
    ]


def _occurrences(strategy: str, every: int, steps: int, passes: float) -> int:
    if strategy == "steps":
        return steps // every
    if strategy == "epoch":
        return math.ceil(passes)
    return 0


def _number(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() and abs(value) >= 10_000 else f"{value:g}"
