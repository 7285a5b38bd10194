"""``dipper risk train`` and ``dipper risk score``: models from CSV files, no database needed;
``dipper risk register``: a model directory into a bank's registry, pending a checker's approval.

Errors a user can cause (a bad file, a missing target, a constant column, a tampered model) are
printed as ``error [code]: message`` with exit code 2 by the main app's group, never as a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dipper.access import queries as access_queries
from dipper.bootstrap import bootstrap
from dipper.entrypoints.cli import output
from dipper.kernel.errors import NotFound, ValidationFailed
from dipper.kernel.uow import Actor
from dipper.risk import commands as risk_commands
from dipper.risk import queries as risk_queries
from dipper.settings import Settings

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


@risk_app.command("register")
def register(  # noqa: PLR0917 - one parameter per option, as Typer declares them
    model: Annotated[
        Path, typer.Option("--model", metavar="DIR", help="A model directory from `risk train`.")
    ],
    name: Annotated[
        str, typer.Option("--name", metavar="NAME", help="The model's name; versions count per name.")
    ],
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="The bank's code.")],
    maker: Annotated[
        str | None,
        typer.Option(
            "--as", metavar="USERNAME", help="The staff user proposing it (the maker); default: the CLI."
        ),
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Why, for the checker.")] = "",
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="SQLAlchemy URL; default DIPPER_DATABASE_URL or sqlite:///demo.db."
        ),
    ] = None,
) -> None:
    """Register a model directory in a bank's registry: stored pending, and a change request opened
    that another person holding risk.approve approves (console: Approvals; API: /changes)."""
    archive = risk_commands.pack_model_directory(model)  # verified before anything is opened
    container = bootstrap(Settings(database_url=database_url) if database_url else Settings())
    try:
        system = Actor.system("cli")
        found = access_queries.tenant_by_code(container.uow(None, system), tenant)
        if found is None:
            raise NotFound(
                f"no bank with code {tenant!r}", code="tenant_not_found", details={"tenant": tenant}
            )
        tenant_id = found["id"]
        actor = system
        if maker is not None:
            user = access_queries.find_user_by_username(container.uow(tenant_id, system), maker)
            if user is None:
                raise NotFound(f"no user {maker!r} in this bank", code="user_not_found")
            actor = Actor(kind="user", id=user["id"], name=maker)
        proposal = container.handle(
            risk_commands.RegisterModel(tenant_id=tenant_id, name=name, archive=archive, note=note),
            actor=actor,
            tenant_id=tenant_id,
        )
        change_id = container.handle(proposal, actor=actor, tenant_id=tenant_id)
        registered = risk_queries.get_model(container.uow(tenant_id, actor), proposal.target)
    finally:
        container.dispose()
    output.print_json(
        {
            "model_id": registered["id"],
            "name": registered["name"],
            "version": registered["version"],
            "kind": registered["kind"],
            "status": registered["status"],
            "content_hash": registered["content_hash"],
            "change_id": change_id,
        }
    )
