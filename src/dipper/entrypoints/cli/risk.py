"""``dipper risk train`` and ``dipper risk score``: models from CSV files, no database needed.

Errors a user can cause (a bad file, a missing target, a constant column, a tampered model) are
printed as ``error [code]: message`` with exit code 2 by the main app's group, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dipper.entrypoints.cli import output
from dipper.kernel.errors import ValidationFailed
from dipper.risk import commands as risk_commands

__all__ = ["risk_app"]

risk_app = typer.Typer(
    help="Risk models (风控模型): train a scorecard or boosted trees from a CSV file, score a file.",
    no_args_is_help=True,
)


@risk_app.command("train")
def train(  # noqa: PLR0917 - one parameter per option, as Typer declares them
    data: Annotated[Path, typer.Option("--data", metavar="CSV", help="Training file with a header row.")],
    target: Annotated[str, typer.Option("--target", metavar="COL", help="The 0/1 column (1 = default).")],
    kind: Annotated[str, typer.Option("--kind", metavar="KIND", help="scorecard or gbdt.")],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Model directory to write.")],
    exclude: Annotated[
        list[str] | None,
        typer.Option(
            "--exclude", metavar="COL", help="A column not to train on (an id); repeat for several."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the validation split and the models.")] = 42,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features", metavar="JSON", help="Derived features: a JSON list of {name, op, inputs}."
        ),
    ] = None,
) -> None:
    """Train on every row of the file; print validation figures as JSON and write the model directory."""
    if kind not in risk_commands.MODEL_KINDS:
        raise ValidationFailed(
            f"--kind must be one of {', '.join(risk_commands.MODEL_KINDS)}, got {kind!r}",
            code="unknown_model_kind",
        )
    result = risk_commands.run(
        risk_commands.TrainModel(
            data=data,
            target=target,
            kind=kind,
            out=out,
            exclude=tuple(exclude or ()),
            seed=seed,
            derived_features=features,
        )
    )
    output.print_json(result)


@risk_app.command("score")
def score(
    model: Annotated[
        Path, typer.Option("--model", metavar="DIR", help="A model directory from `risk train`.")
    ],
    data: Annotated[Path, typer.Option("--data", metavar="CSV", help="File to score (the model's columns).")],
    out: Annotated[
        Path, typer.Option("--out", metavar="CSV", help="Output: the input columns, score and pd.")
    ],
) -> None:
    """Score every row of a file; writes the input columns plus ``score`` and ``pd``."""
    output.print_json(risk_commands.run(risk_commands.ScoreFile(model=model, data=data, out=out)))
