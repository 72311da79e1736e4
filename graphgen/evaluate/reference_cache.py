"""On-disk cache of reference-set statistics for the molecule evaluators (FCD mean/cov, NSPDK mean embedding,
fingerprints, fragment/scaffold counts, canonical-SMILES hashes).

Key = sha256 over the sorted reference SMILES, the statistic's name and parameters, and :data:`CODE_VERSION`
(bump it whenever a statistic's definition changes). Files are ``.npz`` written without pickling and read with
``allow_pickle=False``, under ``graphgen.data.raw.cache_root() / "evaluate"``. Writes go to a temporary file that is
renamed into place, so an interrupted run never leaves a half-written entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

CODE_VERSION = "graphgen-mol-eval-1"


class ReferenceSet:
    """A list of reference SMILES plus its content digest (computed once) and a statistics cache.

    Args:
        smiles: the reference SMILES as given (the digest sorts them, so order does not matter).
        name: a label for messages and progress bars (e.g. ``"qm9 test"``).
        cache: read/write the on-disk cache (``False`` recomputes every statistic).
    """

    def __init__(self, smiles: list[str], name: str = "reference", *, cache: bool = True) -> None:
        if isinstance(smiles, str):
            raise TypeError("reference SMILES must be a list of strings, not one string; pass [smiles] or a dataset "
                            "name through evaluate_molecules(train=..., test=...)")
        self.smiles = list(smiles)
        self.name = name
        self.cache = cache
        self._digest: str | None = None
        self._memory: dict[str, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.smiles)

    def __repr__(self) -> str:
        return f"ReferenceSet(name={self.name!r}, size={len(self.smiles)})"

    @property
    def digest(self) -> str:
        if self._digest is None:
            h = hashlib.sha256()
            for s in sorted(self.smiles):
                h.update(s.encode())
                h.update(b"\n")
            self._digest = h.hexdigest()
        return self._digest

    def path(self, kind: str, params: dict) -> Path:
        from graphgen.data.raw import cache_root

        blob = json.dumps({"set": self.digest, "kind": kind, "params": params, "code": CODE_VERSION},
                          sort_keys=True).encode()
        key = hashlib.sha256(blob).hexdigest()[:32]
        return cache_root() / "evaluate" / f"{kind}-{key}.npz"

    def get(self, kind: str, params: dict, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """Statistic ``kind`` with ``params``: from memory, else from disk, else ``compute()`` (then stored)."""
        mem_key = json.dumps([kind, params], sort_keys=True)
        if mem_key in self._memory:
            return self._memory[mem_key]
        path = self.path(kind, params) if self.cache else None
        if path is not None and path.exists():
            with np.load(path, allow_pickle=False) as f:
                out = {k: f[k] for k in f.files}
        else:
            out = {k: np.asarray(v) for k, v in compute().items()}
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
                os.close(fd)
                try:
                    with open(tmp, "wb") as fh:
                        np.savez(fh, **out)
                    os.replace(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
        self._memory[mem_key] = out
        return out
