"""Set operations on half-open intervals ``[begin, end)`` of epoch seconds.

Every function takes and returns lists sorted by begin, disjoint and not touching (merged).
"""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[int, int]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort, drop empty intervals and join the overlapping or touching ones."""
    out: list[Interval] = []
    for begin, end in sorted(iv for iv in intervals if iv[0] < iv[1]):
        if out and begin <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((begin, end))
    return out


def union(a: list[Interval], b: list[Interval]) -> list[Interval]:
    if not b:
        return a
    if not a:
        return b
    return merge([*a, *b])


def subtract(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """``a`` without ``b``: proper set difference, also where they share an endpoint."""
    if not a or not b:
        return a
    out: list[Interval] = []
    j = 0
    for begin, end in a:
        cur = begin
        while j < len(b) and b[j][1] <= cur:
            j += 1
        k = j
        while k < len(b) and b[k][0] < end:
            cut_begin, cut_end = b[k]
            if cut_begin > cur:
                out.append((cur, cut_begin))
            cur = max(cur, cut_end)
            if cur >= end:
                break
            k += 1
        if cur < end:
            out.append((cur, end))
    return out


def clip(intervals: list[Interval], lo: int, hi: int) -> list[Interval]:
    out = []
    for begin, end in intervals:
        begin, end = max(begin, lo), min(end, hi)
        if begin < end:
            out.append((begin, end))
    return out
