"""Output buffers of the CPU kernels, on transparent huge pages when they are large.

A fresh multi-hundred-MB tensor costs one page fault per 4 KiB page the first time a kernel writes it: on this
project's 2-core machine, allocating and filling the [E, F] = [2M, 64] float32 edge gradient of ``add_relu`` took
about 370 ms, most of the 400 ms its backward pass took. ``madvise(MADV_HUGEPAGE)`` on the buffer (the kernel honours
it when ``/sys/kernel/mm/transparent_hugepage/enabled`` is ``always`` or ``madvise``) makes that one fault per 2 MiB;
the same allocate-and-fill then took about 100 ms. This is the per-buffer form of PyTorch's process-wide
``THP_MEM_ALLOC_ENABLE=1``; graphgen applies it only to its own kernel outputs of at least
:data:`HUGEPAGE_MIN_BYTES`. The first huge-page allocation of a process can be slower (the kernel compacts memory
once). ``GRAPHGEN_HUGEPAGES=0`` turns it off; on systems without ``madvise`` (not Linux, THP ``never``) it is a no-op.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

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


def empty(shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """``torch.empty(shape, dtype=dtype)``, advised onto huge pages when it is at least :data:`HUGEPAGE_MIN_BYTES`.
    Call it before the first write: the advice only changes how untouched pages are faulted in."""
    t = torch.empty(shape, dtype=dtype)
    if t.numel() * t.element_size() >= HUGEPAGE_MIN_BYTES:
        advise_hugepages(t)
    return t
