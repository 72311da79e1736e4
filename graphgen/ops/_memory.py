"""Output buffers of the CPU kernels, on transparent huge pages when they are large.

A fresh multi-hundred-MB tensor costs one page fault per 4 KiB page the first time a kernel writes it, which can be
most of a backward pass (``add_relu``'s [E, F] edge gradient). ``madvise(MADV_HUGEPAGE)`` on the buffer (the kernel
honours it when ``/sys/kernel/mm/transparent_hugepage/enabled`` is ``always`` or ``madvise``) makes that one fault
per 2 MiB. This is the per-buffer form of PyTorch's process-wide ``THP_MEM_ALLOC_ENABLE=1``; graphgen applies it
only to its own kernel outputs of at least :data:`HUGEPAGE_MIN_BYTES`. The first huge-page allocation of a process
can be slower (the kernel compacts memory once). ``GRAPHGEN_HUGEPAGES=0`` turns it off; on systems without
``madvise`` (not Linux, THP ``never``) it is a no-op.

Even on huge pages, fresh memory is slow and erratic on a virtual machine (the host backs guest pages on first
touch), so these buffers also come from a small **caching allocator**, the CPU counterpart of PyTorch's CUDA one: a
buffer handed out by :func:`empty` goes back to a free list when the last tensor using it dies, and the next request
of the same size (rounded up to 2 MiB) reuses its already-resident pages. Free buffers are kept up to
``GRAPHGEN_BUFFER_POOL_MB`` (default 2048; ``0`` turns the cache off), and :func:`empty_cache` hands them all back to
the system. A pooled tensor is an ordinary tensor except that its storage cannot be resized (``resize_`` raises).
The measurements behind both choices are in ``benchmarks/results/ops_notes.md``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import sys
import threading
import weakref

import torch
from torch import Tensor

HUGEPAGE_MIN_BYTES = 8 << 20
_HUGE_PAGE = 2 << 20
_MADV_HUGEPAGE = 14   # linux/mman.h


def _load_madvise():
    if not sys.platform.startswith("linux") or os.environ.get("GRAPHGEN_HUGEPAGES", "1") == "0":
        return None
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as fh:
            if "[never]" in fh.read():
                return None
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_madvise = _load_madvise()


def hugepages_enabled() -> bool:
    """Whether large kernel outputs are advised onto huge pages in this process."""
    return _madvise is not None


def advise_hugepages(t: Tensor) -> bool:
    """Advise the 2 MiB-aligned interior of ``t``'s storage onto huge pages. True if a region was advised."""
    if _madvise is None:
        return False
    start, nbytes = t.data_ptr(), t.numel() * t.element_size()
    lo = -(-start // _HUGE_PAGE) * _HUGE_PAGE
    hi = (start + nbytes) // _HUGE_PAGE * _HUGE_PAGE
    return hi > lo and _madvise(lo, hi - lo, _MADV_HUGEPAGE) == 0


POOL_MAX_BYTES = int(float(os.environ.get("GRAPHGEN_BUFFER_POOL_MB", "2048")) * (1 << 20))
_pool_lock = threading.RLock()          # re-entrant: a finalizer may run (and release) inside a locked section
_free: dict[int, list[Tensor]] = {}     # block bytes -> free raw uint8 blocks, most recently freed last
_free_bytes = 0


def _release(raw: Tensor, block: int) -> None:
    """A pooled tensor died: keep its block for reuse, unless the free list is full (then the memory goes back)."""
    global _free_bytes
    with _pool_lock:
        if _free_bytes + block <= POOL_MAX_BYTES:
            _free.setdefault(block, []).append(raw)
            _free_bytes += block


def _take(block: int) -> Tensor | None:
    global _free_bytes
    with _pool_lock:
        blocks = _free.get(block)
        if not blocks:
            return None
        _free_bytes -= block
        return blocks.pop()


def empty_cache() -> int:
    """Give every free cached buffer back to the system; returns the bytes released."""
    global _free_bytes
    with _pool_lock:
        released = _free_bytes
        _free.clear()
        _free_bytes = 0
    return released


def cached_bytes() -> int:
    """Bytes held in free cached buffers."""
    return _free_bytes


def empty(shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """``torch.empty(shape, dtype=dtype)``; when it is at least :data:`HUGEPAGE_MIN_BYTES`, advised onto huge pages
    and taken from (and later returned to) the buffer cache. Fresh blocks are advised before their first write: the
    advice only changes how untouched pages are faulted in."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < HUGEPAGE_MIN_BYTES:
        return torch.empty(shape, dtype=dtype)
    np_dtype = _np_dtype(dtype)
    if POOL_MAX_BYTES <= 0 or np_dtype is None:
        t = torch.empty(shape, dtype=dtype)
        advise_hugepages(t)
        return t
    block = -(-nbytes // _HUGE_PAGE) * _HUGE_PAGE
    raw = _take(block)
    if raw is None:
        raw = torch.empty(block, dtype=torch.uint8)
        advise_hugepages(raw)
    # a fresh ndarray object owns this handout: torch.from_numpy keeps it alive exactly as long as the returned
    # tensor's storage, so its finalizer is the signal that the block is free again
    view = raw.numpy()[:nbytes].view(np_dtype).reshape(shape)
    weakref.finalize(view, _release, raw, block)
    return torch.from_numpy(view)


def _np_dtype(dtype: torch.dtype):
    """numpy's dtype for ``dtype``, or None where numpy has none (bfloat16, float8, ...: those bypass the cache)."""
    try:
        return torch.empty(0, dtype=dtype).numpy().dtype
    except TypeError:
        return None
