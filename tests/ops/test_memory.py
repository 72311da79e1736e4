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


BIG = (_memory.HUGEPAGE_MIN_BYTES // 4 + 100, )        # float32 elements: over the threshold, not a 2 MiB multiple


@pytest.fixture
def pool(monkeypatch):
    """An empty buffer cache with room for a few big blocks, restored afterwards."""
    monkeypatch.setattr(_memory, "POOL_MAX_BYTES", 8 * _memory.HUGEPAGE_MIN_BYTES)
    monkeypatch.setattr(_memory, "_free", {})
    monkeypatch.setattr(_memory, "_free_bytes", 0)
    yield
    _memory.empty_cache()


def test_a_freed_buffer_is_reused_for_the_next_request(pool):
    t = _memory.empty(BIG, torch.float32)
    t.fill_(1.5)
    ptr = t.data_ptr()
    assert not t.untyped_storage().resizable()                # pooled: a view of a cached block
    assert _memory.cached_bytes() == 0
    del t
    block = -(-BIG[0] * 4 // (2 << 20)) * (2 << 20)
    assert _memory.cached_bytes() == block
    u = _memory.empty((BIG[0] // 2, 2), torch.float32)      # same bytes, another shape
    assert u.data_ptr() == ptr and u.shape == (BIG[0] // 2, 2) and u.dtype == torch.float32
    assert _memory.cached_bytes() == 0


def test_a_live_buffer_is_never_handed_out_twice(pool):
    a = _memory.empty(BIG, torch.float32)
    b = _memory.empty(BIG, torch.float32)
    a.fill_(1.0)
    b.fill_(2.0)
    assert a.data_ptr() != b.data_ptr() and float(a.sum()) == BIG[0]
    ptr_a = a.data_ptr()
    view = a[10:20]                                           # a view keeps the block alive
    del a
    assert _memory.cached_bytes() == 0
    c = _memory.empty(BIG, torch.float32)
    assert c.data_ptr() not in (ptr_a, b.data_ptr())
    del view
    assert _memory.cached_bytes() > 0


def test_cache_limit_and_empty_cache(pool, monkeypatch):
    block = -(-BIG[0] * 4 // (2 << 20)) * (2 << 20)
    monkeypatch.setattr(_memory, "POOL_MAX_BYTES", block)      # room for one block
    a, b = _memory.empty(BIG, torch.float32), _memory.empty(BIG, torch.float32)
    del a, b
    assert _memory.cached_bytes() == block
    assert _memory.empty_cache() == block and _memory.cached_bytes() == 0


def test_cache_off_gives_plain_tensors(pool, monkeypatch):
    monkeypatch.setattr(_memory, "POOL_MAX_BYTES", 0)
    t = _memory.empty(BIG, torch.float64)
    assert t.shape == BIG and t.dtype == torch.float64
    assert t.untyped_storage().resizable()                    # a plain torch allocation, not a pooled numpy view
    del t
    assert _memory.cached_bytes() == 0


def test_pooled_gradients_flow_and_return_to_the_cache(pool):
    from graphgen import ops

    gen = torch.Generator().manual_seed(0)
    n, e, f = 2_000, 40_000, 64                               # the [E, F] edge gradient is 10 MB: pooled
    edge_index = torch.randint(0, n, (2, e), generator=gen)
    graph = ops.CSRGraph.from_edge_index(edge_index, n, cache=False)
    x = torch.randn(n, f, generator=gen, requires_grad=True)
    ea = torch.randn(e, f, generator=gen, requires_grad=True)
    out = ops.gather_scatter(x, graph, edge_attr=ea, message="add_relu", backend="cpu")
    out.backward(torch.ones_like(out))
    ref = torch.relu(x[edge_index[0]] + ea) > 0                # d out.sum() / d e_ij = relu'(x_j + e_ij)
    assert torch.equal(ea.grad, ref.float())
    ea.grad = None
    del out
    assert _memory.cached_bytes() >= e * f * 4                 # the gradient's (and the mask's) blocks came back


def test_dtypes_without_a_numpy_twin_bypass_the_cache(pool):
    t = _memory.empty(BIG, torch.bfloat16)
    assert t.shape == BIG and t.dtype == torch.bfloat16
    assert t.untyped_storage().resizable()
    del t
    assert _memory.cached_bytes() == 0
