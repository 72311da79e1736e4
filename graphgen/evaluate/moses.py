"""MOSES distribution metrics (Polykovskiy et al., "Molecular Sets (MOSES): A Benchmarking Platform for Molecular
Generation Models", Front. Pharmacol. 2020), re-implemented on RDKit + torch (CPU).

Definitions (``gen`` = valid generated molecules, duplicates kept; ``ref`` = a reference set):

- ``unique@k``: distinct canonical SMILES among the first ``k`` valid molecules, divided by ``min(k, len(gen))``.
- ``Filters``: fraction of ``gen`` that pass the MOSES medicinal-chemistry filters: no ring of 8+ atoms, no charged
  atom, only C N S O F Cl Br H, none of the MCF or PAINS SMARTS in ``moses_filters.yaml`` matches the molecule with
  explicit hydrogens, and its SMILES re-parses.
- ``SNN``: mean over ``gen`` of the largest Tanimoto similarity to any molecule of ``ref``, on Morgan fingerprints
  (radius 2, 1024 bits).
- ``Frag`` / ``Scaf``: cosine similarity between the count vectors of BRICS fragments (canonical SMILES of the pieces
  of ``FragmentOnBRICSBonds``) / Bemis–Murcko scaffolds with at least 2 rings, of ``gen`` and ``ref``.
- ``IntDiv_p``: ``1 - mean_i (mean_j T(i, j)^p)^(1/p)`` over all pairs of ``gen`` (``i = j`` included), ``p = 1, 2``.

Reference-side statistics (fingerprints, fragment and scaffold counts) are plain arrays so they can be cached with
:class:`graphgen.evaluate.reference_cache.ReferenceSet`.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold
from tqdm.auto import tqdm

MOSES_ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
FILTERS_FILE = Path(__file__).with_name("moses_filters.yaml")


# -- parallel map --------------------------------------------------------------------------------------------------
# The items and function of the running parallel_map, read by forked workers from the memory they inherit. Sending
# the items through the pool instead would pickle them; a torch tensor (a generated graph's fields) pickles to a
# shared-memory file descriptor, and scoring 10,000 generated molecules ran out of file descriptors that way.
_FORKED: tuple[Callable, list] | None = None


def _call_forked(index: int):
    fn, items = _FORKED
    with rdBase.BlockLogs():
        return fn(items[index])


def parallel_map(fn: Callable, items: Sequence, *, n_jobs: int = 1, desc: str = "", progress: bool = True,
                 min_parallel: int = 5000) -> list:
    """``[fn(x) for x in items]`` with a progress bar; ``n_jobs > 1`` uses a fork process pool for long inputs.

    Workers inherit ``fn`` and ``items`` when they fork (only indices and results travel through pipes), so any
    items work, SMILES strings or graphs holding tensors; results must be picklable.
    """
    global _FORKED
    items = list(items)
    bar = dict(desc=desc, total=len(items), unit="mol")
    # `disable` only switches the bar off: an explicit False would override TQDM_DISABLE (--no-progress)
    if not progress or len(items) < 2000:
        bar["disable"] = True
    if n_jobs > 1 and len(items) >= min_parallel:
        _FORKED = (fn, items)
        try:
            with get_context("fork").Pool(n_jobs) as pool:
                return list(tqdm(pool.imap(_call_forked, range(len(items)), chunksize=256), **bar))
        finally:
            _FORKED = None
    with rdBase.BlockLogs():
        return [fn(x) for x in tqdm(items, **bar)]


def _quiet_mol(smiles: str) -> Chem.Mol | None:
    with rdBase.BlockLogs():
        return Chem.MolFromSmiles(smiles) if smiles else None


# -- uniqueness ----------------------------------------------------------------------------------------------------
def fraction_unique(canonical: Sequence[str], k: int | None = None) -> float:
    """Distinct entries among the first ``k`` (all if ``None``) canonical SMILES over their number."""
    items = list(canonical) if k is None else list(canonical)[:k]
    if not items:
        return float("nan")
    return len(set(items)) / len(items)


def fraction_novel(canonical: Iterable[str], train: set[str] | Callable[[list[str]], np.ndarray]) -> float:
    """Distinct generated SMILES absent from ``train`` over distinct generated SMILES (MOSES / GDSS novelty).

    ``train`` is a set of canonical SMILES, or a function returning a boolean "in train" mask for a list of them.
    """
    unique = sorted(set(canonical))
    if not unique:
        return float("nan")
    in_train = np.array([s in train for s in unique]) if isinstance(train, (set, frozenset)) else train(unique)
    return float(1.0 - np.mean(in_train))


# -- filters -------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _filter_patterns() -> tuple[Chem.Mol, ...]:
    import yaml

    data = yaml.safe_load(FILTERS_FILE.read_text())
    patterns = []
    for group in ("mcf", "pains"):
        for entry in data[group]:
            pat = Chem.MolFromSmarts(entry["smarts"])
            if pat is None:
                raise ValueError(f"{FILTERS_FILE}: SMARTS of {group} entry {entry['name']!r} does not parse")
            patterns.append(pat)
    return tuple(patterns)


def passes_filters(smiles: str) -> bool:
    """MOSES filter check of one valid SMILES (see the module docstring)."""
    mol = _quiet_mol(smiles)
    if mol is None:
        return False
    rings = mol.GetRingInfo()
    if any(len(r) >= 8 for r in rings.AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 for a in mol.GetAtoms()):
        return False
    if any(a.GetSymbol() not in MOSES_ALLOWED_ATOMS for a in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)
    if any(with_h.HasSubstructMatch(p) for p in _filter_patterns()):
        return False
    smi = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smi) and _quiet_mol(smi) is not None


# -- fingerprints and Tanimoto -------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _morgan_generator():
    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)


def morgan_bits(smiles: str) -> np.ndarray:
    """Morgan fingerprint (radius 2, 1024 bits) of one SMILES as packed uint8 ``[128]``; zeros if it does not parse."""
    mol = _quiet_mol(smiles)
    if mol is None:
        return np.zeros(128, dtype=np.uint8)
    return np.packbits(_morgan_generator().GetFingerprintAsNumPy(mol).astype(np.uint8))


def fingerprints(smiles: Sequence[str], *, n_jobs: int = 1, progress: bool = True) -> np.ndarray:
    """Packed Morgan fingerprints ``[len(smiles), 128]`` uint8."""
    if len(smiles) == 0:
        return np.zeros((0, 128), dtype=np.uint8)
    return np.stack(parallel_map(morgan_bits, smiles, n_jobs=n_jobs, desc="fingerprints", progress=progress))


def _unpack(packed: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.unpackbits(packed, axis=1).astype(np.float32))


def tanimoto_reduce(gen: np.ndarray, ref: np.ndarray, *, agg: str = "max", p: int = 1, chunk: int = 512,
                    progress: bool = True, desc: str = "Tanimoto") -> np.ndarray:
    """Per generated molecule: ``max_j T(i, j)`` (``agg="max"``) or ``(mean_j T(i, j)^p)^(1/p)`` (``agg="mean"``).

    ``T(i, j) = |a & b| / |a | b|`` on packed fingerprints ``gen [G, 128]`` and ``ref [R, 128]`` (uint8); two empty
    fingerprints have similarity 1 (as 0/0 is defined in MOSES) -- irrelevant for real molecules.
    """
    if agg not in ("max", "mean"):
        raise ValueError(f"agg must be 'max' or 'mean', got {agg!r}")
    if len(gen) == 0 or len(ref) == 0:
        raise ValueError(f"need fingerprints on both sides, got {len(gen)} generated and {len(ref)} reference")
    out = np.empty(len(gen), dtype=np.float64)
    ref_chunk = 32768
    with torch.inference_mode():
        ref_parts = [_unpack(ref[s:s + ref_chunk]) for s in range(0, len(ref), ref_chunk)]
        ref_counts = [r.sum(1) for r in ref_parts]
        # `disable` only switches the bar off: an explicit False would override TQDM_DISABLE (--no-progress)
        bar_off = {"disable": True} if not progress or len(gen) * len(ref) < 10 ** 8 else {}
        for s in tqdm(range(0, len(gen), chunk), desc=desc, unit="chunk", **bar_off):
            g = _unpack(gen[s:s + chunk])
            gc = g.sum(1, keepdim=True)
            best = torch.zeros(len(g), dtype=torch.float64)
            for r, rc in zip(ref_parts, ref_counts):
                inter = (g @ r.T).double()  # [g, r] common bits (exact integers in float32)
                union = (gc + rc[None, :]).double() - inter
                t = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(inter))
                if agg == "max":
                    best = torch.maximum(best, t.max(1).values)
                else:
                    best += (t ** p).sum(1)
            if agg == "mean":
                best = (best / len(ref)) ** (1.0 / p)
            out[s:s + len(g)] = best.numpy()
    return out


def snn(gen_fps: np.ndarray, ref_fps: np.ndarray, *, progress: bool = True) -> float:
    """Mean nearest-neighbour Tanimoto similarity of generated molecules to the reference set."""
    return float(tanimoto_reduce(gen_fps, ref_fps, agg="max", progress=progress, desc="SNN").mean())


def internal_diversity(gen_fps: np.ndarray, p: int = 1, *, progress: bool = True) -> float:
    """``IntDiv_p = 1 - mean_i (mean_j T(i, j)^p)^(1/p)`` over generated fingerprints (self-pairs included)."""
    return float(1.0 - tanimoto_reduce(gen_fps, gen_fps, agg="mean", p=p, progress=progress,
                                       desc=f"IntDiv{p}").mean())


# -- fragments and scaffolds ---------------------------------------------------------------------------------------
def brics_fragments(smiles: str) -> list[str]:
    """Canonical SMILES of the BRICS fragments of one molecule (with the dummy attachment atoms)."""
    mol = _quiet_mol(smiles)
    if mol is None:
        return []
    return Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split(".")


def murcko_scaffold(smiles: str, min_rings: int = 2) -> str | None:
    """Canonical SMILES of the Bemis–Murcko scaffold, or ``None`` if it has fewer than ``min_rings`` rings."""
    mol = _quiet_mol(smiles)
    if mol is None:
        return None
    try:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smi = Chem.MolToSmiles(scaffold)
    if not smi or scaffold.GetRingInfo().NumRings() < min_rings:
        return None
    return smi


def fragment_counts(smiles: Sequence[str], *, n_jobs: int = 1, progress: bool = True) -> Counter:
    counts: Counter = Counter()
    for frags in parallel_map(brics_fragments, smiles, n_jobs=n_jobs, desc="BRICS fragments", progress=progress):
        counts.update(frags)
    return counts


def scaffold_counts(smiles: Sequence[str], *, n_jobs: int = 1, progress: bool = True) -> Counter:
    counts = Counter(parallel_map(murcko_scaffold, smiles, n_jobs=n_jobs, desc="scaffolds", progress=progress))
    counts.pop(None, None)
    return counts


def counter_to_arrays(counts: Counter) -> dict[str, np.ndarray]:
    keys = sorted(counts)
    return {"keys": np.array(keys, dtype=str), "counts": np.array([counts[k] for k in keys], dtype=np.int64)}


def arrays_to_counter(arrays: dict[str, np.ndarray]) -> Counter:
    return Counter(dict(zip(arrays["keys"].tolist(), arrays["counts"].tolist())))


def cosine_similarity(a: Counter, b: Counter) -> float:
    """Cosine similarity of two count vectors indexed by their keys (NaN if either is empty)."""
    if not a or not b:
        return float("nan")
    keys = sorted(set(a) | set(b))
    x = np.array([a.get(k, 0) for k in keys], dtype=np.float64)
    y = np.array([b.get(k, 0) for k in keys], dtype=np.float64)
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))
