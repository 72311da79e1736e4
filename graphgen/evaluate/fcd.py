"""Fréchet ChemNet Distance (Preuer et al., "Fréchet ChemNet Distance: A metric for generative models for molecules
in drug discovery", J. Chem. Inf. Model. 2018), on CPU with the ChemNet weights that ``fcd_torch`` ships.

    FCD = ||mu_g - mu_r||^2 + Tr(S_g + S_r - 2 (S_g S_r)^{1/2})

over the 512-d penultimate ChemNet activations of the generated (g) and reference (r) SMILES. ``fcd_torch`` does the
network; this module adds batching over processes with a progress bar, the (mu, sigma) statistics that are cached
per reference set, and an eigenvalue form of the trace term. SMILES are passed to ChemNet as given: callers
canonicalise them (:mod:`graphgen.evaluate.molecules` uses RDKit canonical SMILES without stereo on both sides).
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm


@dataclass(frozen=True)
class FCDStats:
    """Mean ``[512]`` and covariance ``[512, 512]`` of ChemNet activations of one SMILES set."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int


@lru_cache(maxsize=1)
def _chemnet():
    from fcd_torch import FCD

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.load / jit deprecation warnings inside fcd_torch
        return FCD(device="cpu", n_jobs=1, batch_size=256, canonize=False)


@contextmanager
def _torch_threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _activations_chunk(smiles: list[str]) -> np.ndarray:
    with _torch_threads(1), warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        return _chemnet().get_predictions(smiles).astype(np.float32)


def chemnet_activations(smiles: Sequence[str], *, n_jobs: int = 2, chunk: int = 1024, progress: bool = True,
                        min_parallel: int = 4096) -> np.ndarray:
    """ChemNet penultimate activations ``[len(smiles), 512]`` (float32), in chunks with a progress bar.

    ChemNet's LSTM runs 350 sequential steps per batch; on a shared CPU one thread per process is much faster than
    several threads fighting over cores, so the chunks are spread over ``n_jobs`` single-threaded forked worker
    processes when there are at least ``min_parallel`` SMILES, and run in this process with one thread otherwise.
    Characters outside ChemNet's vocabulary map to its unknown token (as in fcd_torch).
    """
    smiles = list(smiles)
    if len(smiles) == 0:
        return np.zeros((0, 512), dtype=np.float32)
    chunks = [smiles[s:s + chunk] for s in range(0, len(smiles), chunk)]
    bar = dict(desc="ChemNet (FCD)", total=len(chunks), unit="chunk")
    # `disable` only switches the bar off: an explicit False would override TQDM_DISABLE (--no-progress)
    if not progress:
        bar["disable"] = True
    if n_jobs > 1 and len(smiles) >= min_parallel:
        with get_context("fork").Pool(min(n_jobs, len(chunks))) as pool:
            parts = list(tqdm(pool.imap(_activations_chunk, chunks), **bar))
    else:
        parts = [_activations_chunk(c) for c in tqdm(chunks, **bar)]
    return np.concatenate(parts)


def fcd_stats(smiles: list[str], **kwargs) -> FCDStats:
    """(mu, sigma) of the ChemNet activations of ``smiles`` (needs at least 2 molecules)."""
    if len(smiles) < 2:
        raise ValueError(f"FCD needs at least 2 molecules on each side, got {len(smiles)}")
    act = chemnet_activations(smiles, **kwargs).astype(np.float64)
    return FCDStats(mu=act.mean(0), sigma=np.cov(act, rowvar=False), count=len(smiles))


def frechet_distance(a: FCDStats, b: FCDStats) -> float:
    """Fréchet distance between the Gaussians of two statistics.

    ``Tr((S_a S_b)^{1/2})`` is computed as the sum of square roots of the eigenvalues of the symmetric PSD matrix
    ``S_a^{1/2} S_b S_a^{1/2}`` (which has the same spectrum as ``S_a S_b``): two symmetric eigendecompositions instead
    of a general matrix square root, which is faster and cannot return complex parts. Checked against fcd_torch's
    ``calculate_frechet_distance`` in the tests.
    """
    w, v = np.linalg.eigh(a.sigma)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root_a @ b.sigma @ root_a
    lam = np.linalg.eigvalsh((middle + middle.T) / 2)
    diff = a.mu - b.mu
    value = diff @ diff + np.trace(a.sigma) + np.trace(b.sigma) - 2 * np.sqrt(np.clip(lam, 0, None)).sum()
    return float(value)


def fcd(generated: list[str], reference: list[str] | FCDStats, **kwargs) -> float:
    """FCD between generated SMILES and reference SMILES (or precomputed reference statistics)."""
    ref = reference if isinstance(reference, FCDStats) else fcd_stats(reference, **kwargs)
    return frechet_distance(fcd_stats(generated, **kwargs), ref)
