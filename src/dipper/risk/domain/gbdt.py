"""Gradient boosting (LightGBM) and its compiled runtime.

``GradientBoostingModel`` picks the number of boosting rounds by stratified cross-validation with early
stopping, then trains on every row. ``TreeEnsemble`` is the booster compiled from ``dump_model()`` into
flat lists: generated Python scores one application (no pandas, no LightGBM); a file of 1,000 rows or
more goes to LightGBM's C++ walker on boosters rebuilt from those lists (``_lightgbm_text``), a smaller
one (or any, without LightGBM) to a numpy walker; all three give the very same floats (LightGBM's
decision rules for missing values, zeros and categories included). Reason codes come from TreeSHAP on
the same lists, equal to LightGBM's ``pred_contrib=True``: ``_ShapPlan`` flattens every tree once and
computes one row in a few vectorised passes (~0.1-0.3 ms for 100-300 trees, against tens of ms for the
recursion, kept as ``contributions_reference``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from dipper.risk.domain.base import BaseRiskModel, Columns, ModelRuntime, to_float
from dipper.risk.domain.features import DerivedFeature, parse_features, required_inputs
from dipper.risk.domain.reasons import Reason, rank
from dipper.risk.domain.scale import ScoreScale

__all__ = ["GradientBoostingModel", "Tree", "TreeEnsemble"]

# Node kinds: how a node decides, after LightGBM's Tree::NumericalDecision and CategoricalDecision.
_NUM_NONE, _NUM_ZERO, _NUM_NAN, _CATEGORICAL = 0, 1, 2, 3
_MISSING_KIND = {"None": _NUM_NONE, "Zero": _NUM_ZERO, "NaN": _NUM_NAN}
_ZERO = 1e-35  # LightGBM's kZeroThreshold


@dataclass
class Tree:
    """One tree as flat lists. Children >= 0 are internal nodes; a child < 0 is the leaf ``~child``."""

    feature: list[int]
    threshold: list[float]
    kind: list[int]
    default_left: list[bool]
    left: list[int]
    right: list[int]
    categories: list[frozenset[int]]
    internal_count: list[float]
    leaf_value: list[float]
    leaf_count: list[float]

    @classmethod
    def from_dump(cls, structure: Mapping[str, Any]) -> Tree:
        n_internal = _count_internal(structure)
        tree = cls(
            feature=[0] * n_internal,
            threshold=[0.0] * n_internal,
            kind=[0] * n_internal,
            default_left=[False] * n_internal,
            left=[0] * n_internal,
            right=[0] * n_internal,
            categories=[frozenset()] * n_internal,
            internal_count=[0.0] * n_internal,
            leaf_value=[0.0] * (n_internal + 1),
            leaf_count=[0.0] * (n_internal + 1),
        )
        tree._fill(structure)
        return tree

    def _fill(self, node: Mapping[str, Any]) -> int:
        if "split_index" not in node:
            leaf = int(node.get("leaf_index", 0))
            self.leaf_value[leaf] = float(node["leaf_value"])
            self.leaf_count[leaf] = float(node.get("leaf_count", 0))
            return ~leaf
        i = int(node["split_index"])
        self.feature[i] = int(node["split_feature"])
        self.default_left[i] = bool(node["default_left"])
        self.internal_count[i] = float(node["internal_count"])
        if node["decision_type"] == "==":
            self.kind[i] = _CATEGORICAL
            self.categories[i] = frozenset(int(c) for c in str(node["threshold"]).split("||"))
        else:
            self.kind[i] = _MISSING_KIND[str(node["missing_type"])]
            self.threshold[i] = float(node["threshold"])
        self.left[i] = self._fill(node["left_child"])
        self.right[i] = self._fill(node["right_child"])
        return i

    def leaf_of(self, x: Sequence[float]) -> int:
        if not self.feature:
            return 0
        feature, threshold, kind = self.feature, self.threshold, self.kind
        left, right, default_left = self.left, self.right, self.default_left
        node = 0
        while node >= 0:
            v = x[feature[node]]
            k = kind[node]
            if k == _NUM_NAN:
                go = default_left[node] if v != v else v <= threshold[node]
            elif k == _CATEGORICAL:
                go = v == v and v >= 0 and int(v) in self.categories[node]
            else:
                if v != v:
                    v = 0.0
                go = default_left[node] if k == _NUM_ZERO and -_ZERO <= v <= _ZERO else v <= threshold[node]
            node = left[node] if go else right[node]
        return ~node

    def _go_left(self, node: int, v: float) -> bool:
        k = self.kind[node]
        if k == _NUM_NAN:
            return self.default_left[node] if v != v else v <= self.threshold[node]
        if k == _CATEGORICAL:
            return v == v and v >= 0 and int(v) in self.categories[node]
        if v != v:
            v = 0.0
        if k == _NUM_ZERO and -_ZERO <= v <= _ZERO:
            return self.default_left[node]
        return v <= self.threshold[node]

    def leaves_many(self, X: NDArray[np.float64]) -> NDArray[np.int64]:
        n = X.shape[0]
        if not self.feature:
            return np.zeros(n, dtype=np.int64)
        feature = np.asarray(self.feature, dtype=np.int64)
        threshold = np.asarray(self.threshold, dtype=np.float64)
        kind = np.asarray(self.kind, dtype=np.int64)
        default_left = np.asarray(self.default_left, dtype=bool)
        left = np.asarray(self.left, dtype=np.int64)
        right = np.asarray(self.right, dtype=np.int64)
        node = np.zeros(n, dtype=np.int64)
        active = np.arange(n)
        while active.size:
            nd = node[active]
            v = X[active, feature[nd]]
            k = kind[nd]
            isnan = np.isnan(v)
            v0 = np.where(isnan & (k != _NUM_NAN), 0.0, v)
            go = v0 <= threshold[nd]
            by_default = ((k == _NUM_ZERO) & (v0 >= -_ZERO) & (v0 <= _ZERO)) | ((k == _NUM_NAN) & isnan)
            go = np.where(by_default, default_left[nd], go)
            categorical = np.flatnonzero(k == _CATEGORICAL)
            if categorical.size:
                go[categorical] = [self._go_left(int(nd[j]), float(v[j])) for j in categorical]
            nxt = np.where(go, left[nd], right[nd])
            node[active] = nxt
            active = active[nxt >= 0]
        return ~node

    def expected_value(self) -> float:
        if not self.feature:
            return self.leaf_value[0]
        total = self.internal_count[0]
        value = 0.0
        for count, leaf in zip(self.leaf_count, self.leaf_value, strict=True):
            value += (count / total) * leaf
        return value

    def shap(self, x: Sequence[float], phi: list[float]) -> None:
        """Add this tree's TreeSHAP contributions for ``x`` to ``phi`` (LightGBM's Tree::TreeSHAP, with its
        path kept in four flat lists as the C++ keeps it in one array, and the same arithmetic order)."""
        phi[-1] += self.expected_value()
        if not self.feature:
            return
        size = self._path_size()
        path = _Path([0] * size, [0.0] * size, [0.0] * size, [0.0] * size)
        self._tree_shap(x, phi, 0, 0, 0, 1.0, 1.0, -1, path)

    def _path_size(self) -> int:
        depth = _depth(self, 0)
        return (depth + 2) * (depth + 3) // 2 + 1

    def _count(self, node: int) -> float:
        return self.internal_count[node] if node >= 0 else self.leaf_count[~node]

    def _tree_shap(  # noqa: PLR0917 - the recursion of LightGBM's TreeSHAP, argument for argument
        self,
        x: Sequence[float],
        phi: list[float],
        node: int,
        depth: int,
        parent: int,
        zero_fraction: float,
        one_fraction: float,
        feature_index: int,
        path: _Path,
    ) -> None:
        off = parent + depth
        f, z, o, w = path.feature, path.zero, path.one, path.weight
        if depth > 0:
            f[off : off + depth] = f[parent : parent + depth]
            z[off : off + depth] = z[parent : parent + depth]
            o[off : off + depth] = o[parent : parent + depth]
            w[off : off + depth] = w[parent : parent + depth]
        end = off + depth
        f[end], z[end], o[end], w[end] = (
            feature_index,
            zero_fraction,
            one_fraction,
            1.0 if depth == 0 else 0.0,
        )
        for i in range(depth - 1, -1, -1):
            w[off + i + 1] += one_fraction * w[off + i] * (i + 1) / (depth + 1)
            w[off + i] = zero_fraction * w[off + i] * (depth - i) / (depth + 1)
        if node < 0:
            leaf = self.leaf_value[~node]
            for i in range(1, depth + 1):
                weight = _unwound_sum(path, off, depth, i)
                phi[f[off + i]] += weight * (o[off + i] - z[off + i]) * leaf
            return
        split = self.feature[node]
        hot = self.left[node] if self._go_left(node, x[split]) else self.right[node]
        cold = self.right[node] if hot == self.left[node] else self.left[node]
        count = self._count(node)
        hot_zero = self._count(hot) / count
        cold_zero = self._count(cold) / count
        incoming_zero, incoming_one = 1.0, 1.0
        path_index = depth + 1
        for i in range(depth + 1):
            if f[off + i] == split:
                path_index = i
                break
        if path_index != depth + 1:
            incoming_zero, incoming_one = z[off + path_index], o[off + path_index]
            _unwind(path, off, depth, path_index)
            depth -= 1
        self._tree_shap(x, phi, hot, depth + 1, off, hot_zero * incoming_zero, incoming_one, split, path)
        self._tree_shap(x, phi, cold, depth + 1, off, cold_zero * incoming_zero, 0.0, split, path)

    def to_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "threshold": self.threshold,
            "kind": self.kind,
            "default_left": self.default_left,
            "left": self.left,
            "right": self.right,
            "categories": [sorted(c) for c in self.categories],
            "internal_count": self.internal_count,
            "leaf_value": self.leaf_value,
            "leaf_count": self.leaf_count,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tree:
        return cls(
            feature=[int(v) for v in data["feature"]],
            threshold=[float(v) for v in data["threshold"]],
            kind=[int(v) for v in data["kind"]],
            default_left=[bool(v) for v in data["default_left"]],
            left=[int(v) for v in data["left"]],
            right=[int(v) for v in data["right"]],
            categories=[frozenset(int(c) for c in cs) for cs in data["categories"]],
            internal_count=[float(v) for v in data["internal_count"]],
            leaf_value=[float(v) for v in data["leaf_value"]],
            leaf_count=[float(v) for v in data["leaf_count"]],
        )


def _count_internal(node: Mapping[str, Any]) -> int:
    if "split_index" not in node:
        return 0
    return 1 + _count_internal(node["left_child"]) + _count_internal(node["right_child"])


@dataclass
class _Path:
    """TreeSHAP's path elements as four parallel lists (feature, zero and one fractions, weight)."""

    feature: list[int]
    zero: list[float]
    one: list[float]
    weight: list[float]


def _depth(tree: Tree, node: int) -> int:
    if node < 0:
        return 0
    return 1 + max(_depth(tree, tree.left[node]), _depth(tree, tree.right[node]))


def _unwind(path: _Path, off: int, depth: int, path_index: int) -> None:
    w = path.weight
    one, zero = path.one[off + path_index], path.zero[off + path_index]
    next_one = w[off + depth]
    for i in range(depth - 1, -1, -1):
        if one != 0:
            tmp = w[off + i]
            w[off + i] = next_one * (depth + 1) / ((i + 1) * one)
            next_one = tmp - w[off + i] * zero * (depth - i) / (depth + 1)
        else:
            w[off + i] = (w[off + i] * (depth + 1)) / (zero * (depth - i))
    for i in range(path_index, depth):
        path.feature[off + i] = path.feature[off + i + 1]
        path.zero[off + i] = path.zero[off + i + 1]
        path.one[off + i] = path.one[off + i + 1]


def _unwound_sum(path: _Path, off: int, depth: int, path_index: int) -> float:
    w = path.weight
    one, zero = path.one[off + path_index], path.zero[off + path_index]
    next_one = w[off + depth]
    total = 0.0
    for i in range(depth - 1, -1, -1):
        if one != 0:
            tmp = next_one * (depth + 1) / ((i + 1) * one)
            total += tmp
            next_one = w[off + i] - tmp * zero * ((depth - i) / (depth + 1))
        else:
            total += (w[off + i] / zero) / ((depth - i) / (depth + 1))
    return total


_BULK_ROWS = 1_000  # from this many rows a file is scored by LightGBM's C++ walker (same floats)


def _category_codes(values: NDArray[Any], codes: Mapping[str, int]) -> NDArray[np.float64]:
    """A column of categories as their training codes (NaN when missing or unseen): each distinct value
    looked up once, as :meth:`TreeEnsemble.vector` looks up one."""
    index, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    lookup = np.asarray(
        [math.nan if (c := codes.get(str(u))) is None else float(c) for u in uniques] + [math.nan],
        dtype=np.float64,
    )
    result: NDArray[np.float64] = lookup[index]  # the sentinel -1 reads the trailing NaN
    return result


_MAX_COMPILED_DEPTH = 60  # deeper trees would strain Python's parser: they keep the list walker


def _compile(
    trees: list[Tree], categorical: list[int]
) -> Callable[[list[float], list[float], list[int]], float] | None:
    """One booster as one generated Python function of nested ``if``s: the fastest pure-Python walk.

    The source holds only numbers formatted from typed fields (``repr`` of a float round-trips exactly)
    and names of frozensets, so nothing read from a model file is executed as text. Arguments: the
    feature values ``x`` (NaN when missing), ``z`` (NaN read as 0.0, as LightGBM reads a missing value
    at a node without a missing rule) and ``c`` (the categorical features, in ``categorical`` order, as
    integer codes; -1 when missing or negative). Leaves are added in tree order, as LightGBM adds them,
    so the sum is the very same float. ``None`` when a tree is too deep or holds a non-finite number:
    the list walker serves those.
    """
    slot = {feature: i for i, feature in enumerate(categorical)}
    lines = ["def booster(x, z, c):", " r = 0.0"]
    constants: dict[str, frozenset[int]] = {}
    for tree in trees:
        if not all(math.isfinite(v) for v in (*tree.leaf_value, *tree.threshold)):
            return None
        if not tree.feature:
            lines.append(f" r += {tree.leaf_value[0]!r}")
        elif not _emit(tree, 0, 1, lines, constants, slot):
            return None
    lines.append(" return r")
    namespace: dict[str, Any] = dict(constants)
    exec(compile("\n".join(lines), "<dipper.risk booster>", "exec"), namespace)  # noqa: S102 - numbers only
    booster: Callable[[list[float], list[float], list[int]], float] = namespace["booster"]
    return booster


def _emit(  # noqa: PLR0917 - a recursive emitter's state
    tree: Tree,
    node: int,
    depth: int,
    out: list[str],
    constants: dict[str, frozenset[int]],
    slot: dict[int, int],
) -> bool:
    pad = " " * depth
    if node < 0:
        out.append(f"{pad}r += {tree.leaf_value[~node]!r}")
        return True
    if depth > _MAX_COMPILED_DEPTH:
        return False
    f, t, k, dl = tree.feature[node], tree.threshold[node], tree.kind[node], tree.default_left[node]
    if k == _NUM_NONE:
        test = f"z[{f}] <= {t!r}"
    elif k == _NUM_ZERO:
        zero = f"-1e-35 <= z[{f}] <= 1e-35"
        test = f"({zero} or z[{f}] <= {t!r})" if dl else f"(not ({zero}) and z[{f}] <= {t!r})"
    elif k == _NUM_NAN:
        test = f"(x[{f}] <= {t!r} or x[{f}] != x[{f}])" if dl else f"x[{f}] <= {t!r}"
    else:
        name = f"S{len(constants)}"
        constants[name] = tree.categories[node]
        test = f"c[{slot[f]}] in {name}"
    out.append(f"{pad}if {test}:")
    if not _emit(tree, tree.left[node], depth + 1, out, constants, slot):
        return False
    out.append(f"{pad}else:")
    return _emit(tree, tree.right[node], depth + 1, out, constants, slot)


def _lightgbm_text(trees: list[Tree], n_features: int) -> str:
    """One booster as LightGBM's text model format, rebuilt from the flat lists (``format 1`` JSON holds
    everything a prediction reads): bulk scoring hands the matrix to LightGBM's C++ walker, which adds
    the same leaves in the same order from 0.0, so the raw scores are the very same floats."""
    out = [
        "tree",
        "version=v4",
        "num_class=1",
        "num_tree_per_iteration=1",
        "label_index=0",
        f"max_feature_idx={n_features - 1}",
        "objective=binary sigmoid:1",
        "feature_names=" + " ".join(f"f{i}" for i in range(n_features)),
        "feature_infos=" + " ".join("none" for _ in range(n_features)),
        "",
    ]
    for index, tree in enumerate(trees):
        out.append(f"Tree={index}")
        n_leaves = len(tree.feature) + 1
        out.append(f"num_leaves={n_leaves}")
        if not tree.feature:
            out += ["num_cat=0", f"leaf_value={tree.leaf_value[0]!r}", "is_linear=0", "shrinkage=1", "", ""]
            continue
        thresholds: list[str] = []
        decision: list[int] = []
        boundaries = [0]
        words: list[int] = []
        for node, kind in enumerate(tree.kind):
            if kind == _CATEGORICAL:
                thresholds.append(str(len(boundaries) - 1))
                cats = tree.categories[node]
                bits = [0] * (max(cats, default=0) // 32 + 1)
                for c in cats:
                    bits[c // 32] |= 1 << (c % 32)
                words += bits
                boundaries.append(len(words))
                decision.append(1 | (_NUM_NAN << 2))
            else:
                thresholds.append(repr(tree.threshold[node]))
                decision.append((2 if tree.default_left[node] else 0) | (kind << 2))
        out.append(f"num_cat={len(boundaries) - 1}")
        out.append("split_feature=" + " ".join(map(str, tree.feature)))
        out.append("split_gain=" + " ".join("0" for _ in tree.feature))
        out.append("threshold=" + " ".join(thresholds))
        out.append("decision_type=" + " ".join(map(str, decision)))
        out.append("left_child=" + " ".join(map(str, tree.left)))
        out.append("right_child=" + " ".join(map(str, tree.right)))
        out.append("leaf_value=" + " ".join(repr(v) for v in tree.leaf_value))
        out.append("leaf_weight=" + " ".join("0" for _ in tree.leaf_value))
        out.append("leaf_count=" + " ".join(str(int(c)) for c in tree.leaf_count))
        out.append("internal_value=" + " ".join("0" for _ in tree.feature))
        out.append("internal_weight=" + " ".join("0" for _ in tree.feature))
        out.append("internal_count=" + " ".join(str(int(c)) for c in tree.internal_count))
        if len(boundaries) > 1:
            out.append("cat_boundaries=" + " ".join(map(str, boundaries)))
            out.append("cat_threshold=" + " ".join(map(str, words)))
        out += ["is_linear=0", "shrinkage=1", "", ""]
    out += ["end of trees", "", "pandas_categorical:null", ""]
    return "\n".join(out)


# --- fast exact TreeSHAP for one row -----------------------------------------------------------------
#
# Path-dependent TreeSHAP (LightGBM's ``pred_contrib``) sums, over every leaf, the Shapley values of the
# game f(S) = value × Π_{j∈S} o_j × Π_{j∉S} z_j over the leaf's path features: z_j is the share of the
# training rows that follow the path's splits on feature j (a product of cover ratios, fixed), o_j is 1
# when the row itself follows them all (the only part that depends on the row). So per leaf:
#
#   phi_i = value × (o_i - z_i) × Σ_k w(k, D) × [y^k] Π_{j≠i} (z_j + o_j y),   w(k, D) = k!(D-1-k)!/D!
#
# A cold feature (o_i = 0) gets -value × Σ_k w(k, D) F_k with F = Π_j (z_j + o_j y) (the z_i cancels); a
# hot one gets value × (1 - z_i) × Σ_k w(k, D) Q_k with Q = F / (z_i + y) (synthetic division from the
# top, which only ever multiplies by z_i ≤ 1). Padding a path with z = o = 1 adds a null player and
# changes nobody's value. Since o is 0/1, a leaf of D features has only 2^D outcomes: for short paths
# every outcome is tabulated once (value folded in), and a row costs one vectorised pass over the
# split nodes, a gather and a bincount; longer paths run the polynomial form, padded to one width.

_TABLE_MAX_DEPTH = 12  # paths of at most this many features are tabulated (2^D × D floats per leaf) ...
_TABLE_BUDGET = 2_000_000  # ... while the tables stay under this many floats (16 MB)


def _leaf_factors(z: NDArray[np.float64], o: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per leaf (rows) and path feature (columns): the feature's TreeSHAP contribution per unit of leaf
    value, for zero fractions ``z`` and one fractions ``o`` (0 or 1)."""
    n, d = z.shape
    weights = np.array(
        [math.factorial(k) * math.factorial(d - 1 - k) / math.factorial(d) for k in range(d)],
        dtype=np.float64,
    )
    poly = np.zeros((n, d + 1), dtype=np.float64)
    poly[:, 0] = 1.0
    for j in range(d):
        nxt = poly * z[:, j : j + 1]
        nxt[:, 1:] += poly[:, :-1] * o[:, j : j + 1]
        poly = nxt
    cold = -(poly[:, :d] @ weights)
    quotient = np.zeros((n, d), dtype=np.float64)
    acc = np.zeros((n, d), dtype=np.float64)
    for k in range(d - 1, -1, -1):
        quotient = poly[:, k + 1 : k + 2] - z * quotient
        acc += weights[k] * quotient
    factors: NDArray[np.float64] = np.where(o > 0.5, (1.0 - z) * acc, cold[:, None])
    return factors


@dataclass
class _Leaf:
    value: float
    features: list[int]  # unique path features, in order of first appearance
    zero: list[float]
    positions: list[list[tuple[int, bool]]]  # per feature: (global node, went left) along the path
    table: NDArray[np.float64] | None = None  # value × factors of every outcome, when tabulated


class _ShapPlan:
    """Every tree of every booster flattened for :meth:`contributions`: the split nodes as arrays (one
    vectorised decision per node), each leaf's path features with their zero fractions and the nodes
    that decide their one fractions, and the tabulated outcomes of the short paths."""

    def __init__(self, boosters: list[list[Tree]], n_features: int) -> None:
        self.n_features = n_features
        self.n_boosters = len(boosters)
        expected = []
        for trees in boosters:
            value = 0.0
            for tree in trees:
                value += tree.expected_value()
            expected.append(value)
        self.expected = sum(expected) / len(boosters)
        feature: list[int] = []
        threshold: list[float] = []
        kind: list[int] = []
        default_left: list[bool] = []
        categories: list[frozenset[int]] = []
        leaves: list[_Leaf] = []
        for trees in boosters:
            for tree in trees:
                if not tree.feature:
                    continue
                base = len(feature)
                feature += tree.feature
                threshold += tree.threshold
                kind += tree.kind
                default_left += tree.default_left
                categories += tree.categories
                _collect_leaves(tree, base, 0, [], leaves)
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(
            [t if k != _CATEGORICAL else math.nan for t, k in zip(threshold, kind, strict=True)],
            dtype=np.float64,
        )
        kinds = np.asarray(kind, dtype=np.int64)
        left = np.asarray(default_left, dtype=bool)
        # What a node does with NaN: LightGBM reads it as 0.0 unless the node has a NaN rule, and a
        # zero-rule node sends 0.0 its default way.
        self.nan_left = np.where(kinds == _NUM_NONE, np.nan_to_num(self.threshold, nan=-1.0) >= 0.0, left) & (
            kinds != _CATEGORICAL
        )
        self.zero_nodes = np.flatnonzero(kinds == _NUM_ZERO)
        self.zero_left = left[self.zero_nodes]
        self.cat_nodes = np.flatnonzero(kinds == _CATEGORICAL)
        width = 1 + max((max(categories[i], default=0) for i in self.cat_nodes), default=0)
        self.cat_table = np.zeros((len(self.cat_nodes), width), dtype=bool)
        for row, node in enumerate(self.cat_nodes):
            self.cat_table[row, sorted(categories[node])] = True
        self._plan_leaves(leaves)

    def _plan_leaves(self, leaves: list[_Leaf]) -> None:
        sizes = sorted(len(leaf.features) for leaf in leaves)
        limit = _TABLE_MAX_DEPTH
        while limit > 0 and sum((1 << d) * d for d in sizes if d <= limit) > _TABLE_BUDGET:
            limit -= 1
        tabled = [leaf for leaf in leaves if len(leaf.features) <= limit]
        deep = [leaf for leaf in leaves if len(leaf.features) > limit]
        ordered = tabled + deep
        pos_node: list[int] = []
        pos_left: list[bool] = []
        elem_start: list[int] = []
        elem_feature: list[int] = []
        for leaf in ordered:
            for feature, positions in zip(leaf.features, leaf.positions, strict=True):
                elem_start.append(len(pos_node))
                elem_feature.append(feature)
                for node, went_left in positions:
                    pos_node.append(node)
                    pos_left.append(went_left)
        self.pos_node = np.asarray(pos_node, dtype=np.int64)
        self.pos_left = np.asarray(pos_left, dtype=bool)
        n_tabled = sum(len(leaf.features) for leaf in tabled)
        self.n_tabled = n_tabled
        # A tabled leaf's outcome pattern is "every bit" minus the bits of the features with a split the
        # row did not follow: one OR over the leaf's split positions.
        self.n_tabled_pos = elem_start[n_tabled] if n_tabled < len(elem_start) else len(pos_node)
        pos_bit: list[int] = []
        pos_leaf_start: list[int] = []
        leaf_full: list[int] = []
        for leaf in tabled:
            pos_leaf_start.append(len(pos_bit))
            leaf_full.append((1 << len(leaf.features)) - 1)
            for j, positions in enumerate(leaf.positions):
                pos_bit += [1 << j] * len(positions)
        self.pos_bit = np.asarray(pos_bit, dtype=np.int64)
        self.pos_leaf_start = np.asarray(pos_leaf_start, dtype=np.int64)
        self.leaf_full = np.asarray(leaf_full, dtype=np.int64)
        self.deep_elem_start = np.asarray(elem_start[n_tabled:], dtype=np.int64) - self.n_tabled_pos
        # Tabled leaves: outcome pattern = Σ o_j 2^j; entry = offset + pattern × D + j.
        leaf_offset: list[int] = []
        elem_rank: list[int] = []
        elem_leaf: list[int] = []
        blocks: list[NDArray[np.float64]] = []
        offset = 0
        for index, leaf in enumerate(tabled):
            d = len(leaf.features)
            leaf_offset.append(offset)
            elem_rank += range(d)
            elem_leaf += [index] * d
            offset += (1 << d) * d
        for d in sorted({len(leaf.features) for leaf in tabled}):
            group = [leaf for leaf in tabled if len(leaf.features) == d]
            patterns = np.arange(1 << d)
            o = ((patterns[:, None] >> np.arange(d)) & 1).astype(np.float64)  # (2^d, d)
            z = np.asarray([leaf.zero for leaf in group], dtype=np.float64)  # (n, d)
            zz = np.repeat(z, 1 << d, axis=0)
            oo = np.tile(o, (len(group), 1))
            values = np.repeat(np.asarray([leaf.value for leaf in group]), 1 << d)[:, None]
            table = (values * _leaf_factors(zz, oo)).reshape(len(group), -1)
            for leaf, entries in zip(group, table, strict=True):
                leaf.table = entries
        for leaf in tabled:
            assert leaf.table is not None
            blocks.append(leaf.table)
        self.table = np.concatenate(blocks) if blocks else np.zeros(0)
        self.leaf_offset = np.asarray(leaf_offset, dtype=np.int64)
        self.leaf_width = np.asarray([len(leaf.features) for leaf in tabled], dtype=np.int64)
        self.elem_rank = np.asarray(elem_rank, dtype=np.int64)
        self.elem_leaf = np.asarray(elem_leaf, dtype=np.int64)
        # Deep leaves: one padded matrix; padding reads a constant "followed" slot and z = 1.
        width = max((len(leaf.features) for leaf in deep), default=0)
        pad = len(elem_start) - n_tabled  # the constant slot appended to the deep outcomes
        deep_index = np.full((len(deep), width), pad, dtype=np.int64)
        deep_zero = np.ones((len(deep), width), dtype=np.float64)
        features = np.full((len(deep), width), self.n_features, dtype=np.int64)
        cursor = 0
        for row, leaf in enumerate(deep):
            d = len(leaf.features)
            deep_index[row, :d] = np.arange(cursor, cursor + d)
            deep_zero[row, :d] = leaf.zero
            features[row, :d] = leaf.features
            cursor += d
        self.deep_index = deep_index
        self.deep_zero = deep_zero
        self.deep_value = np.asarray([leaf.value for leaf in deep], dtype=np.float64)[:, None]
        self.all_features = np.concatenate(
            [np.asarray(elem_feature[:n_tabled], dtype=np.int64), features.ravel()]
        )

    def decisions(self, x: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether the row goes left at every split node (LightGBM's rules, as :meth:`Tree.leaf_of`)."""
        v = x[self.feature]
        go = v <= self.threshold
        if self.zero_nodes.size:
            tiny = np.abs(v[self.zero_nodes]) <= _ZERO
            go[self.zero_nodes[tiny]] = self.zero_left[tiny]
        nan = np.isnan(v)
        if nan.any():
            go = np.where(nan, self.nan_left, go)
        if self.cat_nodes.size:
            c = v[self.cat_nodes]
            ok = (c >= 0) & (c < self.cat_table.shape[1])  # False for NaN
            codes = np.where(ok, c, 0).astype(np.int64)
            go[self.cat_nodes] = ok & self.cat_table[np.arange(len(self.cat_nodes)), codes]
        return go

    def contributions(self, x: NDArray[np.float64]) -> list[float]:
        go = self.decisions(x)
        followed = go[self.pos_node] == self.pos_left
        parts = []
        if self.n_tabled:
            tabled = followed[: self.n_tabled_pos]
            missed = np.bitwise_or.reduceat(np.where(tabled, 0, self.pos_bit), self.pos_leaf_start)
            block = self.leaf_offset + (self.leaf_full ^ missed) * self.leaf_width
            parts.append(self.table[block[self.elem_leaf] + self.elem_rank])
        if self.deep_index.size:
            deep = np.logical_and.reduceat(followed[self.n_tabled_pos :], self.deep_elem_start)
            padded = np.append(deep, True)[self.deep_index].astype(np.float64)
            parts.append((self.deep_value * _leaf_factors(self.deep_zero, padded)).ravel())
        phi = (
            np.bincount(self.all_features, weights=np.concatenate(parts), minlength=self.n_features + 1)
            if parts
            else np.zeros(self.n_features + 1)
        )
        out: list[float] = (phi[: self.n_features] / self.n_boosters).tolist()
        out.append(self.expected)
        return out


def _collect_leaves(
    tree: Tree, base: int, node: int, path: list[tuple[int, int, bool, float]], out: list[_Leaf]
) -> None:
    """Every leaf below ``node`` with its path: (feature, global node, went left, cover ratio) per split."""
    if node < 0:
        features: list[int] = []
        zero: list[float] = []
        positions: list[list[tuple[int, bool]]] = []
        slot: dict[int, int] = {}
        for feature, global_node, went_left, ratio in path:
            if feature not in slot:
                slot[feature] = len(features)
                features.append(feature)
                zero.append(1.0)
                positions.append([])
            i = slot[feature]
            zero[i] *= ratio
            positions[i].append((global_node, went_left))
        out.append(_Leaf(tree.leaf_value[~node], features, zero, positions))
        return
    count = tree._count(node)
    f = tree.feature[node]
    for child, went_left in ((tree.left[node], True), (tree.right[node], False)):
        ratio = tree._count(child) / count
        _collect_leaves(tree, base, child, [*path, (f, base + node, went_left, ratio)], out)


class TreeEnsemble(ModelRuntime):
    """The mean raw score of one or more boosters (bagged with different seeds), scaled by PDO.

    The raw score is LightGBM's: the log-odds of default (class 1)."""

    kind = "gbdt"

    def __init__(
        self,
        *,
        boosters: list[list[Tree]],
        features: list[str],
        categories: dict[str, list[str]],
        scale: ScoreScale,
        sigmoid: float = 1.0,
        derived: tuple[DerivedFeature, ...] = (),
        inputs: list[str] | None = None,
    ) -> None:
        self.boosters = boosters
        self.features = features
        self.categories = categories
        self.scale = scale
        self.sigmoid = sigmoid
        self.derived = derived
        self._codes = {name: {c: i for i, c in enumerate(cats)} for name, cats in categories.items()}
        self._categorical = [i for i, name in enumerate(features) if name in categories]
        self._compiled: list[Callable[[list[float], list[float], list[int]], float] | None] | None = None
        self._shap: _ShapPlan | None = None
        self._boosters_cache: list[Any] | None = None
        derived_names = {d.name for d in derived}
        self.inputs = (
            inputs
            if inputs is not None
            else list(
                dict.fromkeys([f for f in features if f not in derived_names] + required_inputs(derived))
            )
        )

    # --- one application ---------------------------------------------------------------------------

    def vector(self, row: Mapping[str, Any]) -> list[float]:
        values = self._row_with_derived(row)
        out = []
        for name in self.features:
            value = values.get(name)
            codes = self._codes.get(name)
            if codes is None:
                out.append(value if type(value) is float else to_float(value))
            else:
                code = codes.get(str(value)) if value is not None else None
                out.append(math.nan if code is None else float(code))
        return out

    def raw_one(self, row: Mapping[str, Any]) -> float:
        x = self.vector(row)
        if self._compiled is None:
            self._compiled = [_compile(trees, self._categorical) for trees in self.boosters]
        total = 0.0
        for trees, compiled in zip(self.boosters, self._compiled, strict=True):
            if compiled is None:
                raw = 0.0
                for tree in trees:
                    raw += tree.leaf_value[tree.leaf_of(x)]
            else:
                z = [0.0 if v != v else v for v in x]
                c = [int(x[i]) if x[i] == x[i] and x[i] >= 0 else -1 for i in self._categorical]
                raw = compiled(x, z, c)
            total += raw
        return total / len(self.boosters)

    def score_one(self, row: Mapping[str, Any]) -> float:
        # The same expression as score_many, so a row scores to the very same float on both paths.
        return self.scale.offset - self.scale.factor * self.raw_one(row)

    def contributions(self, row: Mapping[str, Any]) -> list[float]:
        """TreeSHAP contributions to the raw score, one per feature and the expected value last (equal to
        LightGBM's ``pred_contrib=True``): the flattened, partly tabulated form of ``_ShapPlan``."""
        if self._shap is None:
            self._shap = _ShapPlan(self.boosters, len(self.features))
        return self._shap.contributions(np.asarray(self.vector(row), dtype=np.float64))

    def contributions_reference(self, row: Mapping[str, Any]) -> list[float]:
        """The same contributions by LightGBM's own recursion, tree by tree in pure Python (slow: the
        reference the fast form is tested against)."""
        x = self.vector(row)
        total = [0.0] * (len(self.features) + 1)
        for trees in self.boosters:
            phi = [0.0] * (len(self.features) + 1)
            for tree in trees:
                tree.shap(x, phi)
            total = [t + p for t, p in zip(total, phi, strict=True)]
        return [t / len(self.boosters) for t in total]

    def reasons(self, row: Mapping[str, Any], top: int = 4) -> list[Reason]:
        """Features whose contribution raised the log-odds of default most, in points lost."""
        values = self._row_with_derived(row)
        phi = self.contributions(row)
        costs = [
            (name, values.get(name), -self.scale.points(phi[i]), "") for i, name in enumerate(self.features)
        ]
        return rank(costs, top)

    # --- a file ------------------------------------------------------------------------------------

    def matrix(self, columns: Columns) -> NDArray[np.float64]:
        values = self._columns_with_derived(columns)
        n = len(next(iter(values.values()))) if values else 0
        out = np.empty((n, len(self.features)), dtype=np.float64)
        for j, name in enumerate(self.features):
            codes = self._codes.get(name)
            if codes is None:
                out[:, j] = np.asarray(values[name], dtype=np.float64)
            else:
                out[:, j] = _category_codes(values[name], codes)
        return out

    def raw_many(self, columns: Columns) -> NDArray[np.float64]:
        return self.raw_matrix(self.matrix(columns))

    def raw_matrix(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        if X.shape[0] >= _BULK_ROWS:
            bulk = self._bulk()
            if bulk is not None:
                result: NDArray[np.float64] = np.zeros(X.shape[0], dtype=np.float64)
                for booster in bulk:
                    result = result + booster.predict(X, raw_score=True)
                return result / len(bulk)
        return self.raw_matrix_walk(X)

    def _bulk(self) -> list[Any] | None:
        """LightGBM boosters rebuilt from the trees (None without LightGBM: the numpy walker serves)."""
        if self._boosters_cache is None:
            try:
                import lightgbm as lgb
            except ImportError:  # pragma: no cover - LightGBM is a dependency; the walker is the fallback
                return None
            self._boosters_cache = [
                lgb.Booster(model_str=_lightgbm_text(trees, len(self.features))) for trees in self.boosters
            ]
        return self._boosters_cache

    def raw_matrix_walk(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The numpy tree walker: every tree over every row (the reference for LightGBM's bulk path)."""
        total = np.zeros(X.shape[0], dtype=np.float64)
        for trees in self.boosters:
            raw = np.zeros(X.shape[0], dtype=np.float64)
            for tree in trees:
                raw = raw + np.asarray(tree.leaf_value)[tree.leaves_many(X)]
            total = total + raw
        result: NDArray[np.float64] = total / len(self.boosters)
        return result

    def score_many(self, columns: Columns) -> NDArray[np.float64]:
        raw = self.raw_many(columns)
        return self.scale.offset - self.scale.factor * raw

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format": 1,
            "scale": self.scale.to_json(),
            "sigmoid": self.sigmoid,
            "features": self.features,
            "categories": self.categories,
            "inputs": self.inputs,
            "derived_features": [d.to_json() for d in self.derived],
            "boosters": [[t.to_json() for t in trees] for trees in self.boosters],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TreeEnsemble:
        return cls(
            boosters=[[Tree.from_json(t) for t in trees] for trees in data["boosters"]],
            features=[str(f) for f in data["features"]],
            categories={str(k): [str(c) for c in v] for k, v in data["categories"].items()},
            scale=ScoreScale.from_json(data["scale"]),
            sigmoid=float(data.get("sigmoid", 1.0)),
            derived=parse_features(data.get("derived_features", [])),
            inputs=[str(c) for c in data["inputs"]],
        )


class GradientBoostingModel(BaseRiskModel):
    """LightGBM binary boosting; rounds by ``cv_folds``-fold stratified CV with early stopping.

    String columns become LightGBM categorical features (codes in sorted order; an unseen category is
    treated as missing). ``n_models`` > 1 bags boosters trained with consecutive seeds.
    """

    def __init__(
        self,
        *,
        learning_rate: float = 0.02,
        num_leaves: int = 15,
        min_child_samples: int = 100,
        colsample_bytree: float = 0.5,
        subsample: float = 0.8,
        reg_lambda: float = 1.0,
        max_bin: int = 255,
        n_estimators: int | None = None,
        max_rounds: int = 5000,
        cv_folds: int = 5,
        early_stopping_rounds: int = 200,
        n_models: int = 1,
        n_jobs: int = 1,
        base_score: float = 600.0,
        base_odds: float = 50.0,
        pdo: float = 20.0,
        derived_features: Sequence[DerivedFeature] | Sequence[Mapping[str, Any]] | None = None,
        random_state: int = 42,
    ) -> None:
        super().__init__(
            base_score=base_score,
            base_odds=base_odds,
            pdo=pdo,
            derived_features=derived_features,
            random_state=random_state,
        )
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.n_estimators = n_estimators
        self.max_rounds = max_rounds
        self.cv_folds = cv_folds
        self.early_stopping_rounds = early_stopping_rounds
        self.n_models = n_models
        self.n_jobs = n_jobs

    def _params(self, seed: int) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": "auc",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "feature_fraction": self.colsample_bytree,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "lambda_l2": self.reg_lambda,
            "max_bin": self.max_bin,
            "seed": seed,
            "num_threads": self.n_jobs,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }

    def encode(self, X: pd.DataFrame) -> tuple[NDArray[np.float64], list[str], dict[str, list[str]]]:
        features = [str(c) for c in X.columns]
        categories: dict[str, list[str]] = {}
        for name in features:
            series = X[name]
            if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
                categories[name] = sorted({str(v) for v in series.dropna()})
        return np.empty((0, 0)), features, categories

    def _fit(self, X: pd.DataFrame, y: NDArray[np.int64], raw_inputs: list[str]) -> ModelRuntime:
        import lightgbm as lgb

        from dipper.risk.domain.base import columns_of, derived_of

        _, features, categories = self.encode(X)
        shell = TreeEnsemble(boosters=[], features=features, categories=categories, scale=self.scale)
        matrix = shell.matrix(columns_of(X))
        categorical = [i for i, name in enumerate(features) if name in categories]
        boosters = []
        rounds: list[int] = []
        for k in range(self.n_models):
            params = self._params(self.random_state + k)
            n_rounds = self.n_estimators
            if n_rounds is None:
                data = lgb.Dataset(matrix, y, feature_name=features, categorical_feature=categorical)
                result = lgb.cv(
                    params,
                    data,
                    num_boost_round=self.max_rounds,
                    nfold=self.cv_folds,
                    stratified=True,
                    seed=self.random_state + k,
                    callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)],
                )
                curve = result["valid auc-mean"]
                assert isinstance(curve, list)
                n_rounds = len(curve)  # early stopping keeps the curve up to the best round
            data = lgb.Dataset(matrix, y, feature_name=features, categorical_feature=categorical)
            boosters.append(lgb.train(params, data, num_boost_round=n_rounds))
            rounds.append(n_rounds)
        self.boosters_ = boosters
        self.n_rounds_ = rounds
        self.feature_names_ = features
        dumps = [b.dump_model() for b in boosters]
        sigmoid = _sigmoid_of(str(dumps[0].get("objective", "binary sigmoid:1")))
        derived_names = {d.name for d in derived_of(self.derived_features)}
        return TreeEnsemble(
            boosters=[[Tree.from_dump(t["tree_structure"]) for t in d["tree_info"]] for d in dumps],
            features=features,
            categories=categories,
            scale=self.scale,
            sigmoid=sigmoid,
            derived=derived_of(self.derived_features),
            inputs=list(
                dict.fromkeys(
                    [f for f in features if f not in derived_names]
                    + required_inputs(derived_of(self.derived_features))
                )
            ),
        )

    def lightgbm_raw(self, X: pd.DataFrame) -> NDArray[np.float64]:
        """LightGBM's own raw score, averaged over the bag: the reference the runtime must equal."""
        from dipper.risk.domain.base import columns_of

        runtime = self.runtime_
        assert isinstance(runtime, TreeEnsemble)
        matrix = runtime.matrix(columns_of(X.reset_index(drop=True)))
        total = np.zeros(matrix.shape[0])
        for booster in self.boosters_:
            total = total + booster.predict(matrix, raw_score=True)
        result: NDArray[np.float64] = total / len(self.boosters_)
        return result

    def _report(self) -> dict[str, Any]:
        gains = np.zeros(len(self.feature_names_))
        for booster in self.boosters_:
            gains += booster.feature_importance(importance_type="gain")
        total = float(gains.sum()) or 1.0
        order = np.argsort(-gains, kind="stable")
        return {
            "kind": "gbdt",
            "rounds": self.n_rounds_,
            "importance": [
                {"feature": self.feature_names_[i], "gain_share": round(float(gains[i]) / total, 6)}
                for i in order
            ],
        }


def _sigmoid_of(objective: str) -> float:
    for part in objective.split():
        if part.startswith("sigmoid:"):
            return float(part.split(":", 1)[1])
    return 1.0
