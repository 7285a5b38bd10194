"""Reading and editing a strategy document (GoRules JDM) as the console shows it: tables of rows.

- :func:`decision_tables`: every decision table of a document, its columns and its rows (rules).
- :func:`replace_rules`: a new document with some tables' rows replaced; the columns, the graph and
  everything else stay as they were, so an analyst edits policy, never the flow.
- :func:`check_expressions`: zen-engine checks a graph's shape when it loads, not the expressions in
  its cells (a cell that does not parse silently never matches), so every cell is compiled here.
- :func:`model_refs`: the models a document scores with, from its ``dipper.models`` block
  (``{"scorecard": {"name": "...", "version": 3}, "gbdt": {...}}``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import zen

from dipper.kernel.errors import ValidationFailed

__all__ = [
    "MODEL_SLOTS",
    "ModelRef",
    "check_expressions",
    "decision_tables",
    "model_refs",
    "replace_rules",
    "with_meta",
]

MODEL_SLOTS: Final = ("scorecard", "gbdt")
MAX_RULES: Final = 500
MAX_CELL: Final = 1000
_TABLE: Final = "decisionTableNode"
_EXPRESSION: Final = "expressionNode"
_SWITCH: Final = "switchNode"


def _invalid(reason: str, **details: Any) -> ValidationFailed:
    return ValidationFailed(
        f"invalid strategy document: {reason}",
        code="invalid_strategy_document",
        details={"reason": reason, **details},
    )


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A registered model a strategy scores with: its slot (``scorecard`` or ``gbdt``), name and version."""

    slot: str
    name: str
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


def model_refs(document: Mapping[str, Any]) -> dict[str, ModelRef]:
    """The ``dipper.models`` block, checked: known slots, a name and a version from 1 each."""
    meta = document.get("dipper") or {}
    if not isinstance(meta, Mapping):
        raise _invalid("the dipper block must be an object")
    block = meta.get("models") or {}
    if not isinstance(block, Mapping):
        raise _invalid("dipper.models must be an object")
    refs: dict[str, ModelRef] = {}
    for slot, ref in block.items():
        if slot not in MODEL_SLOTS:
            raise _invalid(f"unknown model slot {slot!r}", allowed=list(MODEL_SLOTS))
        if ref is None:
            continue
        name = ref.get("name") if isinstance(ref, Mapping) else None
        version = ref.get("version") if isinstance(ref, Mapping) else None
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise _invalid(f"dipper.models.{slot} needs a name of 1-64 characters")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise _invalid(f"dipper.models.{slot} needs a version from 1")
        refs[slot] = ModelRef(slot, name, version)
    return refs


def with_meta(document: Mapping[str, Any], **meta: Any) -> dict[str, Any]:
    """A copy of the document with keys of its ``dipper`` block set (None removes a key)."""
    out = copy.deepcopy(dict(document))
    block = dict(out.get("dipper") or {})
    for key, value in meta.items():
        if value is None:
            block.pop(key, None)
        else:
            block[key] = value
    out["dipper"] = block
    return out


def _columns(content: Mapping[str, Any], side: str) -> list[dict[str, str]]:
    columns = content.get(side) or []
    return [
        {"id": str(c.get("id", "")), "name": str(c.get("name", "")), "field": str(c.get("field") or "")}
        for c in columns
        if isinstance(c, Mapping)
    ]


def decision_tables(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every decision table in graph order: id, name, hit policy, input and output columns, rows."""
    tables = []
    for node in document.get("nodes") or []:
        if not isinstance(node, Mapping) or node.get("type") != _TABLE:
            continue
        content = node.get("content") or {}
        inputs, outputs = _columns(content, "inputs"), _columns(content, "outputs")
        ids = [c["id"] for c in inputs + outputs]
        rows = [
            {
                "_id": str(rule.get("_id", "")),
                "_description": str(rule.get("_description", "")),
                **{cid: str(rule.get(cid, "")) for cid in ids},
            }
            for rule in content.get("rules") or []
            if isinstance(rule, Mapping)
        ]
        tables.append(
            {
                "id": str(node.get("id")),
                "name": str(node.get("name", "")),
                "hit_policy": str(content.get("hitPolicy", "")),
                "inputs": inputs,
                "outputs": outputs,
                "rules": rows,
            }
        )
    return tables


def replace_rules(
    document: Mapping[str, Any], tables: Mapping[str, Sequence[Mapping[str, Any]]]
) -> dict[str, Any]:
    """A copy of ``document`` whose named decision tables have the given rows (in order).

    A row maps column ids to cell text, plus optional ``_id`` and ``_description``; an absent cell is
    empty (any value, in an input column). Unknown tables or columns are refused."""
    out = copy.deepcopy(dict(document))
    nodes = {
        n.get("id"): n for n in out.get("nodes") or [] if isinstance(n, dict) and n.get("type") == _TABLE
    }
    for table_id, rows in tables.items():
        node = nodes.get(table_id)
        if node is None:
            raise _invalid(f"no decision table {table_id!r}", table=table_id)
        if isinstance(rows, str | bytes) or not isinstance(rows, Sequence):
            raise _invalid(f"the rows of {table_id!r} must be a list", table=table_id)
        if len(rows) > MAX_RULES:
            raise _invalid(f"{table_id!r} has more than {MAX_RULES} rows", table=table_id)
        content = node.setdefault("content", {})
        ids = [c["id"] for c in _columns(content, "inputs") + _columns(content, "outputs")]
        allowed = {*ids, "_id", "_description"}
        rules: list[dict[str, str]] = []
        seen: set[str] = set()
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise _invalid(f"row {i + 1} of {table_id!r} must be an object", table=table_id, row=i + 1)
            unknown = sorted(str(k) for k in row if k not in allowed)
            if unknown:
                raise _invalid(
                    f"row {i + 1} of {table_id!r} has unknown columns",
                    table=table_id,
                    row=i + 1,
                    unknown=unknown,
                )
            cells = {}
            for key in allowed:
                value = row.get(key, "")
                if value is None:
                    value = ""
                if not isinstance(value, str) or len(value) > MAX_CELL:
                    raise _invalid(
                        f"row {i + 1} of {table_id!r}: {key} must be text of at most {MAX_CELL} characters",
                        table=table_id,
                        row=i + 1,
                        column=key,
                    )
                cells[key] = value.strip()
            rule_id = cells["_id"] or f"{table_id}-{i + 1}"
            while rule_id in seen:
                rule_id = f"{rule_id}-{i + 1}"
            seen.add(rule_id)
            rule = {"_id": rule_id}
            if cells["_description"]:
                rule["_description"] = cells["_description"]
            rule.update({cid: cells[cid] for cid in ids})
            rules.append(rule)
        content["rules"] = rules
    return out


def _compile(text: str, *, unary: bool) -> str | None:
    try:
        (zen.compile_unary_expression if unary else zen.compile_expression)(text)
    except RuntimeError as exc:
        return str(exc).split("Stack backtrace:")[0].strip()[:300]
    return None


def check_expressions(document: Mapping[str, Any]) -> None:
    """Compile every cell and expression; the first that does not parse is refused with its place."""
    for node in document.get("nodes") or []:
        if not isinstance(node, Mapping):
            continue
        node_id = str(node.get("id"))
        content = node.get("content") or {}
        if node.get("type") == _TABLE:
            inputs, outputs = _columns(content, "inputs"), _columns(content, "outputs")
            for n, rule in enumerate(content.get("rules") or [], start=1):
                for column in inputs + outputs:
                    text = str(rule.get(column["id"], "")).strip()
                    if not text:
                        continue  # an empty input cell matches anything; an empty output is null
                    # An input column bound to a field holds unary tests ("< 600", "[1..5)").
                    unary = column in inputs and bool(column["field"])
                    error = _compile(text, unary=unary)
                    if error is not None:
                        raise _invalid(
                            f"table {node_id!r} row {n} column {column['name'] or column['id']!r}: {error}",
                            table=node_id,
                            row=n,
                            column=column["id"],
                        )
        elif node.get("type") == _EXPRESSION:
            for item in content.get("expressions") or []:
                text = str(item.get("value", "")).strip()
                error = _compile(text, unary=False) if text else "empty expression"
                if error is not None:
                    raise _invalid(f"expression {item.get('key')!r} of {node_id!r}: {error}", node=node_id)
        elif node.get("type") == _SWITCH:
            for item in content.get("statements") or []:
                text = str(item.get("condition", "")).strip()
                error = _compile(text, unary=False) if text else None
                if error is not None:
                    raise _invalid(f"a condition of {node_id!r}: {error}", node=node_id)
