"""Reading order of the text lines found on a page: columns left to right, each top to bottom.

Boxes are first grouped into columns: two boxes share a column when their horizontal
extents overlap (by ``COLUMN_OVERLAP`` of the narrower one), and a column is a connected
component of that relation (SciPy's ``connected_components``), so a column's lines need not
all overlap each other, only be chained. Columns are read left to right by their left edge.
Within a column, lines are read top to bottom by their vertical centre, which keeps skewed
lines (whose boxes overlap vertically) in order; boxes side by side on one row (a line found
in two pieces) are read left to right.

Not handled: a box spanning several columns (a heading over two columns) joins them into one,
read top to bottom. No maintained library orders detected line boxes; the rules are a few
lines of numpy.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

#: Share of the narrower box's width two boxes must overlap horizontally to share a column.
COLUMN_OVERLAP = 0.1
#: Share of the shorter box's height two boxes side by side must overlap vertically to be
#: read as one row.
ROW_OVERLAP = 0.5


def _overlap(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Pairwise overlap (N, N) of the intervals [low, high)."""
    return np.clip(
        np.minimum(high[:, None], high[None, :]) - np.maximum(low[:, None], low[None, :]), 0, None
    )


def reading_order(boxes: np.ndarray) -> list[int]:
    """Indices of ``boxes`` (N, 4) ``x0, y0, x1, y1`` in reading order."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return []
    x0, y0, x1, y1 = boxes.T
    widths, heights = np.maximum(x1 - x0, 1e-6), np.maximum(y1 - y0, 1e-6)
    horizontal = _overlap(x0, x1)
    linked = horizontal >= COLUMN_OVERLAP * np.minimum(widths[:, None], widths[None, :])
    _, column = connected_components(csr_matrix(linked), directed=False)
    columns = sorted(set(column.tolist()), key=lambda c: x0[column == c].min())
    vertical = _overlap(y0, y1)
    order: list[int] = []
    for c in columns:
        members = sorted(np.flatnonzero(column == c).tolist(), key=lambda i: (y0[i] + y1[i]) / 2)
        rows: list[list[int]] = []
        for i in members:
            row = rows[-1] if rows else []
            side_by_side = row and all(
                horizontal[i, j] == 0
                and vertical[i, j] >= ROW_OVERLAP * min(heights[i], heights[j])
                for j in row
            )
            if side_by_side:
                row.append(i)
            else:
                rows.append([i])
        order += [i for row in rows for i in sorted(row, key=lambda i: x0[i])]
    return order
