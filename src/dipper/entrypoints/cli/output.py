"""Terminal output for the CLI: Rich tables and panels on a terminal, plain text when piped, JSON on request.

Consoles are built per call (not at import) so that they write to whatever ``sys.stdout`` is at the
time: Typer's test runner swaps it, and so does a shell redirect.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

# When piped, Rich would assume 80 columns and wrap table cells, which breaks grep and awk.
_PIPE_WIDTH = 200


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    is_tty = stream.isatty()
    width = None if is_tty or os.environ.get("COLUMNS") else _PIPE_WIDTH
    return Console(file=stream, stderr=stderr, highlight=False, width=width, emoji=False)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def print_json(data: Any) -> None:
    # Plain write, not Rich: JSON must never be wrapped, highlighted or markup-interpreted.
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default) + "\n")


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[tuple[str, str]],
    *,
    title: str | None = None,
    empty: str = "nothing to show",
) -> None:
    """``columns`` are (key, heading) pairs; cells are Text so that names with ``[`` are not markup."""
    out = console()
    if not rows:
        out.print(Text(empty, style="dim"))
        return
    table = Table(title=title, box=box.SIMPLE_HEAVY if out.is_terminal else box.ASCII, title_justify="left")
    for _, heading in columns:
        table.add_column(heading, overflow="fold")
    for row in rows:
        table.add_row(*(Text(_plain(row.get(key))) for key, _ in columns))
    out.print(table)


def print_fields(title: str, fields: Iterable[tuple[str, Any]], *, style: str = "green") -> None:
    """A small key/value panel (what a command created)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in fields:
        grid.add_row(key, value if isinstance(value, Text) else Text(_plain(value)))
    console().print(Panel(grid, title=title, title_align="left", border_style=style, expand=False))


def success(message: str) -> None:
    console().print(Text(message, style="green"))


def note(message: str) -> None:
    console(stderr=True).print(Text(message, style="yellow"))


def error(code: str, message: str, details: Mapping[str, Any] | None = None, hint: str | None = None) -> None:
    err = console(stderr=True)
    line = Text()
    line.append(f"error [{code}]: ", style="bold red")
    line.append(message, style="red")
    err.print(line)
    if details:
        err.print(Text(json.dumps(dict(details), ensure_ascii=False, default=_json_default), style="dim"))
    if hint:
        err.print(Text(hint, style="yellow"))
