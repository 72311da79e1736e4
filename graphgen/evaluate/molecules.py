"""Molecule evaluation protocols: GDSS, DiGress and MOSES, behind one function, :func:`evaluate_molecules`.

Inputs: generated molecules as PyG ``Data`` (layout of :mod:`graphgen.data.molecules`, with a ``vocab``), RDKit
``Mol`` or SMILES; reference sets (``train``, ``test``) as SMILES lists or dataset names for
``graphgen.data.registry.load_dataset``. Every rate is a fraction in [0, 1] (papers print percentages).

Failed and malformed items. Decision: what a generator failed to produce lowers validity; what does not follow the
input layout is the caller's bug and stops the evaluation with its position:

- ``None`` (a generator's failed sample) and a SMILES string RDKit cannot parse are *invalid samples*: they stay in
  the denominator of every rate and are counted in ``num_missing`` / ``num_unparsable`` (a warning says how many).
- A ``Data`` that does not follow the layout (a missing field, a wrong shape or dtype, an atom or bond type outside
  the vocabulary, a charge outside ``vocab.charges``, a hydrogen count outside ``-1, 0..8``, a one-way edge, a self
  loop), an item of another type, or a molecule above :data:`graphgen.data.molecules.MAX_ATOMS` atoms raises
  :class:`~graphgen.errors.InputError` whose message starts with ``generated[<index>]:`` and names the field.

Canonical SMILES everywhere are RDKit's, **without stereochemistry** (``isomericSmiles=False``): graphs carry no
stereo, so a generated molecule could never equal a stereo-annotated reference. (GDSS compared isomeric SMILES, which
inflates novelty on ZINC250k; QM9 SMILES have no stereo, so QM9 numbers are unaffected.)

GDSS protocol (Jo et al., ICML 2022; QM9 and ZINC250k, kekulized graphs without hydrogens):

1. Build the molecule from the graph, bond by bond in GDSS's order (:func:`gdss_construct`). **Formal-charge rule**:
   after each bond, the first atom that fails RDKit's valence check gets formal charge +1 if it is a neutral N, O or
   S whose valence (sum of bond orders + explicit H) is exactly its default valence + 1 (N 3, O 2, S 2): a 4-valent
   N becomes N+, a 3-valent O becomes O+; a 5-valent N, or any over-valent C, is left alone. (The bond order matters
   only for which atoms carry a charge into the correction step, not for validity; for S the rule never fires,
   because RDKit accepts S valences up to 6.)
2. ``validity_wo_correction`` = fraction of generated graphs that pass ``SanitizeMol(SANITIZE_PROPERTIES)`` after
   step 1 (denominator: all generated graphs; GDSS divides by the molecules that survive step 3, almost always all).
3. Valency correction: while an atom fails the valence check, lower the highest-order (non-aromatic) bond at the first
   failing atom by one (triple -> double -> single -> removed; ties: the atom's first bond); give up (invalid) if the
   atom has only aromatic bonds. Then keep the largest fragment (most atoms; ties: larger canonical SMILES) and
   re-parse its SMILES. ``validity`` = fraction of generated graphs that yield a molecule here (GDSS's MOSES "valid").
   Also reported (not part of GDSS's table): ``connected`` = fraction of generated graphs that yield a molecule
   and are one fragment after the correction, before the largest fragment is kept.
4. On the corrected molecules (duplicates kept): ``uniqueness`` = distinct / all; ``novelty`` = distinct not in
   train / distinct; ``fcd`` = FCD to the test set; ``nspdk_mmd`` = NSPDK MMD^2 to the test set
   (:mod:`graphgen.evaluate.nspdk`, GDSS settings).

DiGress protocol (Vignac et al., ICLR 2023): build the molecule, full ``SanitizeMol``; failure = invalid;
disconnected but sanitizable molecules are valid and keep their largest fragment. ``validity``, ``uniqueness``
(distinct / valid), ``novelty`` (distinct not in train / distinct), ``connected`` (fraction of generated that are valid
and have one fragment), and ``fcd`` / ``nspdk_mmd`` against the test set as in the GDSS protocol.

MOSES protocol (Polykovskiy et al. 2020): a molecule is valid if RDKit can build and sanitize it (no fragment
removal); metric names are MOSES's: ``valid``, ``unique@1000``, ``unique@10000``, ``Novelty``, ``Filters``,
``FCD/Test``, ``SNN/Test``, ``Frag/Test``, ``Scaf/Test``, the same four with ``/TestSF`` against the scaffold test set,
``IntDiv``, ``IntDiv2`` (definitions in :mod:`graphgen.evaluate.moses`).

Reference statistics are cached on disk per reference set (:mod:`graphgen.evaluate.reference_cache`), so scoring a
new sample set only computes the generated side.
"""
from __future__ import annotations

import hashlib
import heapq
import warnings
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from rdkit import Chem, rdBase

from graphgen.data.molecules import check_atom_count, data_to_mol, parse_smiles, resolve_vocab
from graphgen.errors import InputError
from graphgen.evaluate import fcd as fcd_mod
from graphgen.evaluate import moses as moses_mod
from graphgen.evaluate.nspdk import NSPDK, mean_embedding, mmd_from_means, mol_to_labeled_graph
from graphgen.evaluate.reference_cache import ReferenceSet

PROTOCOLS = ("gdss", "digress", "moses")
GDSS_DEFAULT_VALENCE = {7: 3, 8: 2, 16: 2}  # N, O, S: valence that, exceeded by one, earns a +1 formal charge
_PROPS = Chem.SanitizeFlags.SANITIZE_PROPERTIES
_BOND_BY_ORDER = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}


# -- building molecules from the accepted input types ---------------------------------------------------------------
class ItemTypeError(InputError, TypeError):
    """A generated item of a type :func:`evaluate_molecules` does not read (a ``TypeError`` as well, as before)."""


def to_raw_mol(item: Any, vocab: Any = None) -> Chem.RWMol | None:
    """Generated item -> unsanitized editable molecule; ``None`` for a failed sample (``None``) or a SMILES string that
    does not even parse.

    ``Data`` needs a vocabulary (``vocab`` argument or a ``data.vocab`` attribute) and goes through
    ``graphgen.data.molecules.data_to_mol(..., sanitize=False)``; a ``Mol`` is copied; a SMILES string is parsed with
    RDKit's sanitization (and kekulized) when that succeeds -- so a nitro group written ``N(=O)=O`` is read as
    ``[N+](=O)[O-]``, as every dataset pipeline does -- and without sanitization otherwise, so that an invalid SMILES
    reaches the protocol's own validity check.

    Raises:
        InputError: a malformed ``Data`` (the message names the field), a molecule above ``MAX_ATOMS`` atoms, or an
            item of another type (:class:`ItemTypeError`, also a ``TypeError``).
    """
    if item is None:
        return None
    if isinstance(item, str):
        with rdBase.BlockLogs():
            mol = parse_smiles(item)  # sanitized when possible: RDKit's cleanup turns N(=O)=O into [N+](=O)[O-]
            if mol is not None:
                Chem.Kekulize(mol, clearAromaticFlags=True)
            else:
                mol = parse_smiles(item, sanitize=False)
        return None if mol is None else Chem.RWMol(mol)
    if isinstance(item, Chem.Mol):
        check_atom_count(item.GetNumAtoms(), "molecule")
        return Chem.RWMol(item)
    if hasattr(item, "edge_index") and hasattr(item, "x"):
        vocab = vocab if vocab is not None else getattr(item, "vocab", None)
        if vocab is None:
            raise InputError("a generated Data graph needs its vocabulary: pass evaluate_molecules(..., vocab=VOCABS"
                             "['qm9']) (graphgen.data.molecules.VOCABS) or set data.vocab")
        return Chem.RWMol(data_to_mol(item, resolve_vocab(vocab), sanitize=False))
    raise ItemTypeError(f"generated molecules must be torch_geometric Data, rdkit Mol, SMILES str or None (a failed "
                        f"sample), got {type(item).__name__}")


def _fails_valence(atom: Chem.Atom) -> bool:
    """Whether RDKit's valence check (the per-atom step of ``SANITIZE_PROPERTIES``) rejects ``atom``."""
    try:
        atom.UpdatePropertyCache(strict=True)
    except Chem.AtomValenceException:
        return True
    except Chem.MolSanitizeException:  # other problems are not valence failures (as in DetectChemistryProblems)
        return False
    return False


class _ValenceFailures:
    """The atoms of an editable molecule that fail the valence check, and the first of them.

    An atom's valence depends only on its own bonds, charge and hydrogens, so after an edit only the atoms it touched
    are checked again (:meth:`recheck`); a heap gives the smallest failing index. Checking the whole molecule after
    every bond instead made GDSS validity quadratic in the number of atoms.
    """

    def __init__(self, mol: Chem.RWMol) -> None:
        self._mol = mol
        self._failing: set[int] = set()
        self._heap: list[int] = []  # may hold stale indices; first() drops them
        for idx in range(mol.GetNumAtoms()):
            self.recheck(idx)

    def recheck(self, idx: int) -> None:
        if _fails_valence(self._mol.GetAtomWithIdx(idx)):
            if idx not in self._failing:
                self._failing.add(idx)
                heapq.heappush(self._heap, idx)
        else:
            self._failing.discard(idx)

    def first(self) -> int | None:
        """Smallest failing atom index (the atom RDKit's sanitization reports first), ``None`` if none fails."""
        while self._heap and self._heap[0] not in self._failing:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None


def _passes_properties(mol: Chem.Mol) -> bool:
    with rdBase.BlockLogs():
        return Chem.SanitizeMol(Chem.Mol(mol), _PROPS, catchErrors=True) == Chem.SanitizeFlags.SANITIZE_NONE


def _bonds_of(mol: Chem.Mol) -> list[Chem.Bond]:
    """Every bond once, found through the atoms: RDKit's ``GetBondWithIdx`` (which ``mol.GetBonds()`` iterates with)
    walks the bond list, so listing bonds by index is quadratic in their number; an atom's bonds are not."""
    return [b for atom in mol.GetAtoms() for b in atom.GetBonds() if b.GetBeginAtomIdx() == atom.GetIdx()]


def _explicit_valence(atom: Chem.Atom) -> float:
    return sum(b.GetBondTypeAsDouble() for b in atom.GetBonds()) + atom.GetNumExplicitHs()


def gdss_construct(mol: Chem.Mol) -> Chem.RWMol:
    """Rebuild ``mol`` the way GDSS builds a generated graph, applying its formal-charge rule as it goes.

    Atoms keep their element, formal charge and explicit H count; bonds are added in GDSS's order (by larger, then
    smaller atom index). After each bond, if an atom fails RDKit's valence check, the first failing atom -- if it is a
    neutral N/O/S whose valence (bond orders + explicit H) is exactly its default + 1 (N 3, O 2, S 2) -- gets formal
    charge +1. So a 4-valent N becomes N+ and a 3-valent O becomes O+; a 5-valent N or a 5-valent C stays invalid.
    Linear in the size of the molecule: each bond re-checks only its two atoms (:class:`_ValenceFailures`).
    """
    out = Chem.RWMol()
    for atom in mol.GetAtoms():
        new = Chem.Atom(atom.GetAtomicNum())
        new.SetFormalCharge(atom.GetFormalCharge())
        new.SetNumExplicitHs(atom.GetNumExplicitHs())
        new.SetNoImplicit(atom.GetNoImplicit())
        new.SetIsAromatic(atom.GetIsAromatic())
        out.AddAtom(new)
    bonds = sorted(_bonds_of(mol), key=lambda b: (max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()),
                                                   min(b.GetBeginAtomIdx(), b.GetEndAtomIdx())))
    with rdBase.BlockLogs():
        failures = _ValenceFailures(out)
        for bond in bonds:
            i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            out.AddBond(i, j, bond.GetBondType())
            if bond.GetIsAromatic():
                out.GetBondBetweenAtoms(i, j).SetIsAromatic(True)
            failures.recheck(i)
            failures.recheck(j)
            first = failures.first()
            if first is None:
                continue
            atom = out.GetAtomWithIdx(first)
            default = GDSS_DEFAULT_VALENCE.get(atom.GetAtomicNum())
            if default is not None and atom.GetFormalCharge() == 0 and _explicit_valence(atom) == default + 1:
                atom.SetFormalCharge(1)
                failures.recheck(first)
    return out


def _lowering_budget(mol: Chem.Mol) -> int:
    """Upper bound on correction steps: each step removes a non-aromatic bond or lowers its order by one."""
    return sum(max(int(b.GetBondTypeAsDouble()), 1) for b in _bonds_of(mol)
               if b.GetBondType() != Chem.BondType.AROMATIC)


def correct_valency(mol: Chem.RWMol) -> Chem.RWMol | None:
    """GDSS valency correction, in place: lower the highest-order bond at the first failing atom until every atom
    passes ``SANITIZE_PROPERTIES``; ``None`` if a failing atom has only aromatic bonds (or no bonds).

    Runs until done, as GDSS's ``correct_mol`` does (it always ends: every step lowers a bond), re-checking only the
    two atoms of the lowered bond after each step.
    """
    with rdBase.BlockLogs():
        failures = _ValenceFailures(mol)
        for _ in range(_lowering_budget(mol) + 1):
            first = failures.first()
            if first is None:
                return mol
            best = None
            for bond in mol.GetAtomWithIdx(first).GetBonds():
                if bond.GetBondType() == Chem.BondType.AROMATIC:
                    continue
                order = int(bond.GetBondTypeAsDouble())
                if best is None or order > best[0]:
                    best = (order, bond.GetBeginAtomIdx(), bond.GetEndAtomIdx())
            if best is None:
                return None
            order, i, j = best
            mol.RemoveBond(i, j)
            if order - 1 >= 1:
                mol.AddBond(i, j, _BOND_BY_ORDER[order - 1])
            failures.recheck(i)
            failures.recheck(j)
    return None


def canonical(mol: Chem.Mol) -> str:
    """RDKit canonical SMILES without stereochemistry; InputError above ``MAX_ATOMS`` atoms (RDKit's writer would
    overflow the stack)."""
    check_atom_count(mol.GetNumAtoms(), "molecule")
    return Chem.MolToSmiles(mol, isomericSmiles=False)


def canonicalize_smiles(smiles: str) -> str | None:
    """Canonical SMILES (no stereo) of a SMILES string, ``None`` if RDKit cannot parse and sanitize it.

    Raises:
        InputError: ``smiles`` is not a string or has more than ``MAX_ATOMS`` atoms.
    """
    with rdBase.BlockLogs():
        mol = parse_smiles(smiles) if smiles else None
    return None if mol is None else canonical(mol)


def largest_fragment_smiles(mol: Chem.Mol) -> str | None:
    """Canonical SMILES of the largest fragment (most atoms; ties: larger SMILES), re-parsed; ``None`` if it fails.
    InputError above ``MAX_ATOMS`` atoms (checked first: the handler below must not turn it into "invalid")."""
    check_atom_count(mol.GetNumAtoms(), "molecule")
    with rdBase.BlockLogs():
        try:
            mol = Chem.Mol(mol)
            mol.UpdatePropertyCache(strict=False)
            smiles = canonical(mol)
        except (RuntimeError, ValueError):
            return None
        if not smiles:
            return None
        best = None
        for frag in smiles.split("."):
            parsed = Chem.MolFromSmiles(frag, sanitize=False)
            size = parsed.GetNumAtoms() if parsed is not None else -1
            if best is None or (size, frag) > best[:2]:
                best = (size, frag)
        return canonicalize_smiles(best[1])


# -- per-molecule protocol outcomes ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoleculeOutcome:
    """What one protocol makes of one generated item: ``valid`` (the protocol's validity), ``smiles`` (canonical
    SMILES used for the remaining metrics, ``None`` if unusable), ``valid_wo_correction`` (GDSS only),
    ``connected`` (one fragment before fragment removal) and ``built`` (False when no molecule could be built at
    all: a ``None`` item or a SMILES RDKit cannot parse)."""

    valid: bool
    smiles: str | None
    valid_wo_correction: bool = False
    connected: bool = False
    built: bool = True


def gdss_outcome(item: Any, vocab: Any = None) -> MoleculeOutcome:
    """GDSS steps 1-3 for one generated item (see the module docstring)."""
    mol = to_raw_mol(item, vocab)
    if mol is None or mol.GetNumAtoms() == 0:
        return MoleculeOutcome(False, None, built=mol is not None)
    mol = gdss_construct(mol)
    ok = _passes_properties(mol)
    fixed = correct_valency(mol)
    smiles = None if fixed is None else largest_fragment_smiles(fixed)
    return MoleculeOutcome(valid=smiles is not None, smiles=smiles, valid_wo_correction=ok,
                           connected=smiles is not None and len(Chem.GetMolFrags(fixed)) == 1)


def _sanitized(item: Any, vocab: Any = None) -> tuple[Chem.Mol | None, bool]:
    """(the fully sanitized molecule of ``item`` or ``None`` when it is empty or RDKit rejects it, whether a molecule
    could be built at all)."""
    mol = to_raw_mol(item, vocab)
    if mol is None or mol.GetNumAtoms() == 0:
        return None, mol is not None
    mol = mol.GetMol()
    with rdBase.BlockLogs():
        if Chem.SanitizeMol(mol, catchErrors=True) != Chem.SanitizeFlags.SANITIZE_NONE:
            return None, True
    return mol, True


def digress_outcome(item: Any, vocab: Any = None) -> MoleculeOutcome:
    """DiGress: full sanitization decides validity; the largest fragment is kept."""
    mol, built = _sanitized(item, vocab)
    if mol is None:
        return MoleculeOutcome(False, None, built=built)
    smiles = largest_fragment_smiles(mol)
    return MoleculeOutcome(valid=smiles is not None, smiles=smiles,
                           connected=smiles is not None and len(Chem.GetMolFrags(mol)) == 1)


def moses_outcome(item: Any, vocab: Any = None) -> MoleculeOutcome:
    """MOSES: valid if RDKit builds and sanitizes the whole molecule (all fragments kept)."""
    mol, built = _sanitized(item, vocab)
    if mol is None:
        return MoleculeOutcome(False, None, built=built)
    with rdBase.BlockLogs():
        smiles = canonicalize_smiles(canonical(mol))
    return MoleculeOutcome(valid=smiles is not None, smiles=smiles,
                           connected=smiles is not None and "." not in smiles)


_OUTCOME = {"gdss": gdss_outcome, "digress": digress_outcome, "moses": moses_outcome}


def _indexed_outcome(outcome: Callable[[Any, Any], MoleculeOutcome], vocab: Any,
                     indexed_item: tuple[int, Any]) -> MoleculeOutcome:
    """``outcome(item, vocab)``; an InputError gets the item's position in ``generated`` in front of its message."""
    index, item = indexed_item
    try:
        return outcome(item, vocab)
    except InputError as err:
        raise type(err)(f"generated[{index}]: {err}") from err


# -- reference sets -------------------------------------------------------------------------------------------------
def _load_reference(ref: Any, split: str, role: str, data_dir: Any) -> list[str]:
    if isinstance(ref, str):
        try:
            from graphgen.data.registry import load_dataset
        except ImportError as err:
            raise ImportError(f"{role}={ref!r} names a dataset, but graphgen.data.registry.load_dataset is not "
                              f"available ({err}); pass a list of SMILES instead") from err
        dataset = load_dataset(ref, split=split, data_dir=data_dir)
        if not hasattr(dataset, "smiles"):
            raise InputError(f"dataset {ref!r} has no .smiles; {role} must be a molecule dataset or a SMILES list")
        return list(dataset.smiles)
    if ref is None:
        return []
    out = list(ref)
    if out and not isinstance(out[0], str):
        raise TypeError(f"{role} must be a list of SMILES strings or a dataset name, got a list of {type(out[0])}")
    return out


def _canonical_reference(ref: ReferenceSet, n_jobs: int, progress: bool) -> list[str]:
    """Canonical SMILES of a reference set (unparseable entries dropped with a warning), cached."""
    def compute():
        canon = moses_mod.parallel_map(canonicalize_smiles, ref.smiles, n_jobs=n_jobs,
                                       desc=f"canonicalize {ref.name}", progress=progress)
        bad = [i for i, c in enumerate(canon) if c is None]
        if bad:
            warnings.warn(f"{len(bad)} of {len(canon)} {ref.name} SMILES do not parse with RDKit and are skipped "
                          f"(first rows: {bad[:5]})", stacklevel=4)
        return {"smiles": np.array([c for c in canon if c is not None], dtype=str)}

    return ref.get("canonical", {}, compute)["smiles"].tolist()


def _smiles_hash(smiles: Iterable[str]) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")
                     for s in smiles], dtype=np.uint64)


def _train_membership(ref: ReferenceSet, n_jobs: int, progress: bool):
    """Function: list of canonical SMILES -> bool mask "in train", from cached 64-bit hashes of the train set."""
    def compute():
        return {"hashes": np.unique(_smiles_hash(_canonical_reference(ref, n_jobs, progress)))}

    hashes = ref.get("canonical_hash", {}, compute)["hashes"]
    return lambda smiles: np.isin(_smiles_hash(smiles), hashes)


def _fcd_reference(ref: ReferenceSet, n_jobs: int, progress: bool) -> fcd_mod.FCDStats:
    def compute():
        st = fcd_mod.fcd_stats(_canonical_reference(ref, n_jobs, progress), n_jobs=n_jobs, progress=progress)
        return {"mu": st.mu, "sigma": st.sigma, "count": np.array(st.count)}

    arr = ref.get("fcd_chemnet", {}, compute)
    return fcd_mod.FCDStats(arr["mu"], arr["sigma"], int(arr["count"]))


def _nspdk_embed(smiles: Sequence[str], nspdk: NSPDK, progress: bool) -> np.ndarray:
    with rdBase.BlockLogs():
        graphs = [mol_to_labeled_graph(Chem.MolFromSmiles(s)) for s in smiles]
    return mean_embedding(nspdk.transform(graphs, progress=progress))


def _nspdk_reference(ref: ReferenceSet, nspdk: NSPDK, n_jobs: int, progress: bool) -> np.ndarray:
    params = {"radius": nspdk.radius, "distance": nspdk.distance, "nbits": nspdk.nbits}
    return ref.get("nspdk_mean", params,
                   lambda: {"mean": _nspdk_embed(_canonical_reference(ref, n_jobs, progress), nspdk, progress)})["mean"]


# -- the entry point ------------------------------------------------------------------------------------------------
def evaluate_molecules(
    generated: Sequence[Any],
    *,
    train: Sequence[str] | str | None,
    test: Sequence[str] | str | None,
    protocol: str = "gdss",
    vocab: Any = None,
    test_scaffolds: Sequence[str] | str | None = None,
    nspdk: NSPDK | None = None,
    n_jobs: int = 2,
    cache: bool = True,
    progress: bool = True,
    data_dir: Any = None,
) -> dict[str, float]:
    """Score generated molecules with one published protocol.

    Args:
        generated: list of ``Data`` (needs ``vocab``), RDKit ``Mol``, SMILES or ``None`` (a failed sample, counted as
            an invalid molecule; see "Failed and malformed items" in the module docstring).
        train: training SMILES (novelty) or a dataset name (``load_dataset(name, "train").smiles``); ``None`` skips
            novelty with a warning.
        test: test SMILES (FCD, NSPDK, SNN/Frag/Scaf) or a dataset name (split ``"test"``); ``None`` skips them.
        protocol: ``"gdss"``, ``"digress"`` or ``"moses"`` (metrics listed in the module docstring).
        vocab: ``graphgen.data.molecules.MoleculeVocab`` of ``Data`` inputs (else ``data.vocab`` is used).
        test_scaffolds: MOSES scaffold-split test set for the ``/TestSF`` metrics (SMILES or dataset name; with
            ``test="moses"`` the dataset's ``"test_scaffolds"`` split is tried).
        nspdk: NSPDK feature map (default: GDSS settings, radius 4, distance 4, 16 bits).
        n_jobs: worker processes for RDKit work on large reference sets and for ChemNet (FCD).
        cache: read/write reference statistics under ``cache_root()/evaluate``.
        progress: show progress bars.
        data_dir: data root for dataset names (else ``GRAPHGEN_DATA``).

    Returns:
        flat ``dict[str, float]``; rates are fractions. ``num_generated``, ``num_valid``, ``num_missing`` (``None``
        items) and ``num_unparsable`` (SMILES RDKit cannot parse) are included.

    Raises:
        InputError: an unknown protocol, an empty ``generated``, or a malformed item (the message starts with
            ``generated[<index>]:`` and names the field).
    """
    if protocol not in PROTOCOLS:
        raise InputError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    generated = list(generated)
    if not generated:
        raise InputError("generated is empty: pass at least one molecule")
    vocab = None if vocab is None else resolve_vocab(vocab)
    n_gen = len(generated)
    outcomes = moses_mod.parallel_map(partial(_indexed_outcome, _OUTCOME[protocol], vocab), list(enumerate(generated)),
                                      n_jobs=n_jobs, desc=f"{protocol} validity", progress=progress)
    valid_smiles = [o.smiles for o in outcomes if o.smiles is not None]
    n_valid = len(valid_smiles)
    n_missing = sum(item is None for item in generated)
    n_unparsable = sum(not o.built for o in outcomes) - n_missing
    if n_missing or n_unparsable:
        warnings.warn(f"evaluate_molecules: {n_missing} of {n_gen} generated items are None (failed samples) and "
                      f"{n_unparsable} are SMILES RDKit cannot parse; they count as invalid", stacklevel=2)

    train_ref = ReferenceSet(_load_reference(train, "train", "train", data_dir), "train", cache=cache) \
        if train is not None else None
    test_ref = ReferenceSet(_load_reference(test, "test", "test", data_dir), "test", cache=cache) \
        if test is not None else None
    skipped = [name for name, ref in (("train (novelty)", train_ref), ("test (FCD/NSPDK/similarity)", test_ref))
               if ref is None]
    if skipped:
        warnings.warn(f"evaluate_molecules: no reference given for {', '.join(skipped)}; those metrics are left out "
                      f"of the result", stacklevel=2)

    out: dict[str, float] = {"num_generated": float(n_gen), "num_valid": float(n_valid),
                             "num_missing": float(n_missing), "num_unparsable": float(n_unparsable)}
    if protocol == "moses":
        out.update(_moses_metrics(outcomes, valid_smiles, train_ref, test_ref, test, test_scaffolds, n_jobs,
                                  progress, data_dir, cache))
        return out

    if protocol == "gdss":
        out["validity_wo_correction"] = float(np.mean([o.valid_wo_correction for o in outcomes]))
    out["validity"] = n_valid / n_gen
    if protocol in ("digress", "gdss"):
        out["connected"] = float(np.mean([o.valid and o.connected for o in outcomes]))
    out["uniqueness"] = moses_mod.fraction_unique(valid_smiles)
    if train_ref is not None:
        out["novelty"] = moses_mod.fraction_novel(valid_smiles, _train_membership(train_ref, n_jobs, progress))
    if test_ref is not None:
        if n_valid >= 2:
            gen_stats = fcd_mod.fcd_stats(valid_smiles, n_jobs=n_jobs, progress=progress)
            out["fcd"] = fcd_mod.frechet_distance(gen_stats, _fcd_reference(test_ref, n_jobs, progress))
        else:
            warnings.warn(f"only {n_valid} valid molecule(s): FCD needs 2, so 'fcd' is NaN", stacklevel=2)
            out["fcd"] = float("nan")
        nspdk = nspdk or NSPDK()
        if n_valid:
            out["nspdk_mmd"] = mmd_from_means(_nspdk_embed(valid_smiles, nspdk, progress),
                                              _nspdk_reference(test_ref, nspdk, n_jobs, progress))
        else:
            out["nspdk_mmd"] = float("nan")
    return out


def _moses_metrics(outcomes, gen, train_ref, test_ref, test, test_scaffolds, n_jobs, progress, data_dir, cache):
    out: dict[str, float] = {"valid": float(np.mean([o.valid for o in outcomes]))}
    for k in (1000, 10000):
        if len(gen) < k:
            warnings.warn(f"unique@{k}: only {len(gen)} valid molecules, computed on all of them", stacklevel=3)
        out[f"unique@{k}"] = moses_mod.fraction_unique(gen, k)
    if train_ref is not None:
        out["Novelty"] = moses_mod.fraction_novel(gen, _train_membership(train_ref, n_jobs, progress))
    if not gen:
        return out
    out["Filters"] = float(np.mean(moses_mod.parallel_map(moses_mod.passes_filters, gen, n_jobs=n_jobs,
                                                           desc="filters", progress=progress)))
    gen_fps = moses_mod.fingerprints(gen, n_jobs=n_jobs, progress=progress)

    refs = []
    if test_ref is not None:
        refs.append(("Test", test_ref))
    if test_scaffolds is None and test == "moses":
        try:
            test_scaffolds = _load_reference("moses", "test_scaffolds", "test_scaffolds", data_dir)
        except Exception as err:  # noqa: BLE001 - reported, not swallowed: TestSF metrics are then absent
            warnings.warn(f"MOSES /TestSF metrics skipped: could not load the scaffold test set ({err}); pass "
                          f"test_scaffolds=<SMILES list>", stacklevel=3)
    elif test_scaffolds is None:
        warnings.warn("MOSES /TestSF metrics skipped: pass test_scaffolds=<SMILES list or dataset name>", stacklevel=3)
    if test_scaffolds is not None:
        sf = _load_reference(test_scaffolds, "test_scaffolds", "test_scaffolds", data_dir)
        refs.append(("TestSF", ReferenceSet(sf, "test_scaffolds", cache=cache)))

    if refs:  # the generated side of the reference metrics, computed only when there is a reference (ChemNet is slow)
        gen_frag = moses_mod.fragment_counts(gen, n_jobs=n_jobs, progress=progress)
        gen_scaf = moses_mod.scaffold_counts(gen, n_jobs=n_jobs, progress=progress)
        gen_fcd = fcd_mod.fcd_stats(gen, n_jobs=n_jobs, progress=progress) if len(gen) >= 2 else None
    for suffix, ref in refs:
        canon = lambda ref=ref: _canonical_reference(ref, n_jobs, progress)  # noqa: E731
        if gen_fcd is not None:
            out[f"FCD/{suffix}"] = fcd_mod.frechet_distance(gen_fcd, _fcd_reference(ref, n_jobs, progress))
        ref_fps = ref.get("morgan2_1024", {}, lambda: {"fps": moses_mod.fingerprints(canon(), n_jobs=n_jobs,
                                                                                     progress=progress)})["fps"]
        out[f"SNN/{suffix}"] = moses_mod.snn(gen_fps, ref_fps, progress=progress)
        ref_frag = moses_mod.arrays_to_counter(ref.get(
            "brics_counts", {}, lambda: moses_mod.counter_to_arrays(
                moses_mod.fragment_counts(canon(), n_jobs=n_jobs, progress=progress))))
        out[f"Frag/{suffix}"] = moses_mod.cosine_similarity(ref_frag, gen_frag)
        ref_scaf = moses_mod.arrays_to_counter(ref.get(
            "scaffold_counts", {"min_rings": 2}, lambda: moses_mod.counter_to_arrays(
                moses_mod.scaffold_counts(canon(), n_jobs=n_jobs, progress=progress))))
        out[f"Scaf/{suffix}"] = moses_mod.cosine_similarity(ref_scaf, gen_scaf)
    out["IntDiv"] = moses_mod.internal_diversity(gen_fps, 1, progress=progress)
    out["IntDiv2"] = moses_mod.internal_diversity(gen_fps, 2, progress=progress)
    return out
