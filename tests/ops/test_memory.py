"""Huge-page advice for the CPU kernels' large outputs (graphgen.ops._memory)."""
from __future__ import annotations

import pytest
import torch

from graphgen.ops import _memory


def _vmflags_at(address: int) -> list[str]:
    """The VmFlags of the mapping of this process that contains ``address`` (from /proc/self/smaps)."""
    inside, flags = False, None
    with open("/proc/self/smaps") as fh:
        for line in fh:
            head = line.split()[0]
            if "-" in head and all(c in "0123456789abcdef-" for c in head):
                lo, hi = (int(v, 16) for v in head.split("-"))
                inside = lo <= address < hi
            elif inside and line.startswith("VmFlags:"):
                flags = line.split()[1:]
    assert flags is not None, "address not found in /proc/self/smaps"
    return flags


def test_empty_has_the_requested_shape_and_dtype():
    for shape, dtype in [((3, 4), torch.float32), ((0, 0), torch.bool), ((5_000_000, 2), torch.float64)]:
        t = _memory.empty(shape, dtype)
        assert t.shape == shape and t.dtype == dtype and t.is_contiguous()


@pytest.mark.skipif(not _memory.hugepages_enabled(), reason="no transparent huge pages (not Linux, or THP 'never')")
def test_large_buffers_are_advised_and_small_ones_are_not():
    big = _memory.empty((_memory.HUGEPAGE_MIN_BYTES // 4 + 4096,), torch.float32)
    middle = big.data_ptr() + big.numel() * 2        # the advised 2 MiB-aligned interior holds the middle byte
    assert "hg" in _vmflags_at(middle)
    small = torch.empty((_memory.HUGEPAGE_MIN_BYTES // 4 + 4096,), dtype=torch.float32)   # plain allocation
    assert "hg" not in _vmflags_at(small.data_ptr() + small.numel() * 2)


def test_advice_is_a_no_op_when_disabled(monkeypatch):
    monkeypatch.setattr(_memory, "_madvise", None)
    t = _memory.empty((_memory.HUGEPAGE_MIN_BYTES,), torch.uint8)
    assert not _memory.advise_hugepages(t) and not _memory.hugepages_enabled()
