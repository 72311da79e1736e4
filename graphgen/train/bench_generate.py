"""``graphgen bench generate``: resumable sampling in chunks, the protocol suite, and the published anchor rows
printed next to ours.

Sampling. ``n`` samples are drawn in chunks of ``chunk_size``; chunk ``i`` is drawn from its own seed
(:func:`chunk_seeds`: ``numpy.random.SeedSequence(seed, spawn_key=(i,))``), so a chunk's graphs depend only on the
run seed and its index, never on how many chunks ran in the same process. After each chunk the samples file
(``<scores>.samples.safetensors``) is rewritten atomically with every graph so far and a record of the run
(:class:`SamplingPlan`: model, sha256 of its weights, seed, count, chunk size, chunk seeds, chunks done). A killed
run continues with ``--resume`` and ends with the same graphs as an uninterrupted one; a record that does not match
the command line is refused (:class:`SamplesMismatchError` names the field).

Scoring. The MOSES suite (``valid``, ``unique@1000``, ``unique@10000``, ``Novelty``, ``Filters``, ``FCD``, ``SNN``,
``Frag``, ``Scaf`` against ``Test`` and ``TestSF``, ``IntDiv``, ``IntDiv2``) and the GDSS suite
(``validity_wo_correction``, ``validity``, ``uniqueness``, ``novelty``, ``fcd``, ``nspdk_mmd``) are
:func:`graphgen.evaluate.molecules.evaluate_molecules` with the dataset's references (its own progress bars show
each long step: on 30,000 MOSES samples, minutes each for FCD and IntDiv).

Anchors. :data:`ANCHORS` copies the published rows of ``../shared/REFERENCE.md`` section 5 (the numbers only; our row
is computed in the run).
"""
from __future__ import annotations

import hashlib
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from graphgen.errors import InputError

# Default sample counts of the published protocols: MOSES scores 30,000 samples (the MOSES paper, 25-30k);
# GDSS 10,000 on ZINC250k (REFERENCE.md section 4); qm9 keeps this command's earlier default of 1,000.
DEFAULT_SAMPLES = {"moses": 30_000, "zinc250k": 10_000, "qm9": 1_000}
# Chunks of 1,000: a killed 30,000-sample MOSES run loses at most a thirtieth of its sampling time.
DEFAULT_CHUNK = 1_000


class SamplesMismatchError(InputError):
    """A samples file records another run (model, seed, count or chunks) than the command line asks for."""


# -- published anchors -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnchorTable:
    """Published rows of one benchmark: column names (ours map to them through ``ours``), rows of values as printed
    in the source (``None`` where the source gives none), and how to read our scores into the same units."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[float | None, ...]], ...]
    ours: tuple[tuple[str, float], ...]  # (our score key, factor to the published unit) per column


# Source: ../shared/REFERENCE.md section 5 "Published generation anchors" (copied, not recomputed).
# MOSES: REFERENCE.md gives one FCD / SNN / Scaf column. The training-set row (FCD 0.48, SNN 0.59) is what the MOSES
# paper reports for the training set against the *scaffold* test set (against the random test set its FCD is near
# 0), so these columns are read as FCD/TestSF, SNN/TestSF and Scaf/TestSF (in %); our FCD/Test is in the full table.
# The rates are percentages in the source; "unique" is taken as unique@10000 (MOSES's headline uniqueness).
MOSES_ANCHORS = AnchorTable(
    columns=("valid %", "unique@10k %", "novelty %", "filters %", "FCD/TestSF", "SNN/TestSF", "Scaf/TestSF %"),
    rows=(
        ("DiGress", (85.7, 100.0, 95.0, 97.1, 1.19, 0.52, 14.8)),
        ("DeFoG", (92.8, 99.9, 92.1, 98.9, 1.95, 0.55, 14.4)),
        ("best reported (2026)", (99.1, 99.8, 91.4, 98.0, 1.03, 0.55, 14.4)),
        ("training set", (100.0, 100.0, None, 100.0, 0.48, 0.59, None)),
    ),
    ours=(("valid", 100.0), ("unique@10000", 100.0), ("Novelty", 100.0), ("Filters", 100.0), ("FCD/TestSF", 1.0),
          ("SNN/TestSF", 1.0), ("Scaf/TestSF", 100.0)),
)
# ZINC250k, GDSS protocol (validity without correction, FCD, uniqueness); PARD's FCD is marked unverified there.
ZINC250K_ANCHORS = AnchorTable(
    columns=("valid w/o corr %", "FCD", "unique %"),
    rows=(
        ("GDSS (0.37M params)", (97.01, 14.66, 99.64)),
        ("SwinGNN-L (35.9M)", (90.68, 1.99, 99.73)),
        ("PARD (unverified)", (95.23, 1.98, None)),
    ),
    ours=(("validity_wo_correction", 100.0), ("fcd", 1.0), ("uniqueness", 100.0)),
)
ANCHORS = {"moses": MOSES_ANCHORS, "zinc250k": ZINC250K_ANCHORS}


def anchor_table(dataset: str, scores: dict[str, float], label: str = "graphgen (this run)") -> str | None:
    """The published rows of ``dataset`` with our row last, as a text table (``None`` for a dataset without
    anchors). A score this run did not compute prints as ``n/a``; a value the source does not give as ``-``."""
    from graphgen.train.bench import format_rows

    table = ANCHORS.get(dataset)
    if table is None:
        return None

    def cell(value: float | None, missing: str) -> str:
        return missing if value is None or not math.isfinite(value) else f"{value:.4g}"

    rows = [(name, *(cell(v, "-") for v in values)) for name, values in table.rows]
    ours = [scores.get(key) for key, _ in table.ours]
    rows.append((label, *(cell(None if v is None else float(v) * factor, "n/a")
                          for v, (_, factor) in zip(ours, table.ours))))
    return format_rows(("system", *table.columns), rows)


# -- resumable sampling ----------------------------------------------------------------------------------------------
def chunk_seeds(seed: int, num_chunks: int) -> list[int]:
    """One 63-bit seed per chunk, chunk ``i`` from ``SeedSequence(seed, spawn_key=(i,))`` (independent streams that
    do not depend on the number of chunks)."""
    return [int(np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1, np.uint64)[0] >> np.uint64(1))
            for i in range(num_chunks)]


def weights_sha256(folder: Path) -> str | None:
    """sha256 of ``folder/model.safetensors`` (``None`` when there is none): retraining a folder changes it."""
    path = Path(folder) / "model.safetensors"
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class SamplingPlan:
    """What a samples file holds: which run made it (compared on resume) and how far it got.

    ``key`` is the record of earlier versions of this command (model, num_samples, seed), kept so a file they wrote
    is still read by ``--reuse-samples``.
    """

    model: str
    model_sha256: str | None
    num_samples: int
    seed: int
    chunk_size: int
    chunk_seeds: list[int]
    chunks_done: int = 0
    seconds: float = 0.0
    evaluations: float = 0.0   # network evaluations summed over graphs (SampleStats.evaluations)
    graphs_counted: int = 0    # graphs the evaluations were counted on
    key: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, model: str, model_sha256: str | None, num_samples: int, seed: int, chunk_size: int) -> SamplingPlan:
        if num_samples < 1 or chunk_size < 1:
            raise InputError(f"-n ({num_samples}) and --chunk-size ({chunk_size}) must be >= 1")
        num_chunks = -(-num_samples // chunk_size)
        return cls(model=model, model_sha256=model_sha256, num_samples=num_samples, seed=seed, chunk_size=chunk_size,
                   chunk_seeds=chunk_seeds(seed, num_chunks),
                   key={"model": model, "num_samples": num_samples, "seed": seed})

    @property
    def num_chunks(self) -> int:
        return len(self.chunk_seeds)

    @property
    def complete(self) -> bool:
        return self.chunks_done == self.num_chunks

    def chunk_count(self, index: int) -> int:
        """Samples in chunk ``index`` (the last one may be short)."""
        return min(self.chunk_size, self.num_samples - index * self.chunk_size)

    @property
    def evaluations_per_graph(self) -> float | None:
        return self.evaluations / self.graphs_counted if self.graphs_counted else None

    def identity(self) -> dict[str, Any]:
        """The fields a resumed run must agree on."""
        return {"model": self.model, "model_sha256": self.model_sha256, "num_samples": self.num_samples,
                "seed": self.seed, "chunk_size": self.chunk_size, "chunk_seeds": self.chunk_seeds}


def read_plan(path: Path) -> tuple[list, SamplingPlan | None, dict[str, Any]]:
    """``(graphs, plan, metadata)`` of a samples file; ``plan`` is ``None`` for a file of an earlier version."""
    from graphgen.data.graph_file import load_graphs

    graphs, meta = load_graphs(path)
    stored = meta.get("plan")
    if not isinstance(stored, dict):
        return graphs, None, meta
    try:
        plan = SamplingPlan(**stored)
    except TypeError as err:
        raise SamplesMismatchError(f"{path}: its sampling record does not fit this graphgen ({err}); delete the file "
                                   "or pass another --json") from None
    if len(graphs) != sum(plan.chunk_count(i) for i in range(plan.chunks_done)):
        raise SamplesMismatchError(f"{path}: holds {len(graphs)} graphs but records {plan.chunks_done} finished "
                                   f"chunks; delete the file and sample again")
    return graphs, plan, meta


def check_same_run(path: Path, saved: SamplingPlan, wanted: SamplingPlan) -> None:
    """Refuse to continue ``saved`` under ``wanted`` unless every identity field agrees (the message names them)."""
    a, b = saved.identity(), wanted.identity()
    differ = [k for k in a if a[k] != b[k]]
    if not differ:
        return
    shown = "; ".join(f"{k}: file {_short(a[k])}, this run {_short(b[k])}" for k in differ)
    raise SamplesMismatchError(f"{path} holds samples of another run ({shown}); pass the same arguments, another "
                               "--json, or delete the file")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _save(path: Path, graphs: list, plan: SamplingPlan) -> None:
    from graphgen.data.graph_file import save_graphs

    # "key" and "seconds" at the top level are what files of earlier versions held (read by --reuse-samples)
    save_graphs(path, graphs, {"plan": asdict(plan), "key": plan.key, "seconds": plan.seconds,
                               "evaluations_per_graph": plan.evaluations_per_graph})


def sample_in_chunks(model: Any, plan: SamplingPlan, path: Path, *, graphs: Sequence = (),
                     batch_size: int | None = None, progress: bool = True, stop_after: int | None = None) -> list:
    """Draw the chunks of ``plan`` not yet done, saving ``path`` after each; returns every graph so far.

    Args:
        model: anything with ``sample(n, generator=, batch_size=, progress=, callback=)`` returning a list of graphs.
        plan: the run record; ``plan.chunks_done`` chunks are already in ``graphs``. Updated in place.
        path: the samples file, rewritten (atomically) after every chunk.
        graphs: the graphs of the finished chunks.
        batch_size: graphs per ``model.sample`` batch.
        progress: a tqdm bar over samples.
        stop_after: stop after this many new chunks (tests use it to simulate an interrupted run).
    """
    import torch
    from tqdm.auto import tqdm

    from graphgen.generate.base import SampleStats

    graphs = list(graphs)
    # `disable` only switches the bar off: an explicit False would override TQDM_DISABLE (--no-progress)
    bar_off = {} if progress else {"disable": True}
    bar = tqdm(total=plan.num_samples, initial=len(graphs), desc="sampling", unit="mol", mininterval=2, **bar_off)
    new_chunks = 0
    try:
        while not plan.complete and (stop_after is None or new_chunks < stop_after):
            index = plan.chunks_done
            stats = SampleStats()

            def observe(event: dict[str, Any], stats: SampleStats = stats) -> None:
                stats(event)
                if event["kind"] == "sampled":  # one event per finished batch: the bar moves per batch
                    bar.update(event["num_graphs"])

            start = time.perf_counter()
            generator = torch.Generator().manual_seed(plan.chunk_seeds[index])
            chunk = model.sample(plan.chunk_count(index), generator=generator, batch_size=batch_size, progress=False,
                                 callback=observe)
            plan.seconds += time.perf_counter() - start
            if len(chunk) != plan.chunk_count(index):
                raise InputError(f"{type(model).__name__}.sample returned {len(chunk)} graphs for a chunk of "
                                 f"{plan.chunk_count(index)}")
            if stats.graphs == 0:  # a model that reports no events: the bar moves per chunk
                bar.update(len(chunk))
            else:
                plan.evaluations += stats.evaluations
                plan.graphs_counted += stats.graphs
            graphs.extend(chunk)
            plan.chunks_done += 1
            new_chunks += 1
            _save(path, graphs, plan)
    finally:
        bar.close()
    return graphs


def open_or_plan(path: Path, wanted: SamplingPlan, *, resume: bool, reuse: bool) -> tuple[list, SamplingPlan]:
    """The graphs and plan a run starts from: a fresh plan, or the file's plan when resuming or reusing.

    ``--reuse-samples`` needs a complete file of the same run; ``--resume`` continues an incomplete one (or scores a
    complete one); without either, an incomplete file is refused (the message names ``--resume``) and a complete
    one is sampled again and overwritten, as before chunks existed.
    """
    if not path.exists():
        if reuse or resume:
            raise InputError(f"{'--reuse-samples' if reuse else '--resume'} but {path} does not exist; run without it "
                             "to sample")
        return [], wanted
    graphs, saved, meta = read_plan(path)
    if saved is None:  # a file of an earlier version: one run, no chunks
        if resume:
            raise SamplesMismatchError(f"{path} was written before sampling was resumable; delete it or pass "
                                       "--reuse-samples to score it")
        if reuse:
            if meta.get("key") != wanted.key:
                raise SamplesMismatchError(f"{path} holds samples of {meta.get('key')}, not {wanted.key}")
            legacy = SamplingPlan(**{**asdict(wanted), "chunk_size": len(graphs), "chunk_seeds": [wanted.seed],
                                     "chunks_done": 1, "seconds": float(meta.get("seconds", 0.0))})
            evaluations = meta.get("evaluations_per_graph")
            if evaluations is not None:
                legacy.evaluations, legacy.graphs_counted = float(evaluations) * len(graphs), len(graphs)
            return graphs, legacy
        return [], wanted
    if reuse or resume:
        check_same_run(path, saved, wanted)
        if reuse and not saved.complete:
            raise SamplesMismatchError(f"{path} holds {saved.chunks_done} of {saved.num_chunks} chunks; continue it "
                                       "with --resume")
        return graphs, saved
    if not saved.complete:
        raise SamplesMismatchError(f"{path} holds an interrupted run ({saved.chunks_done} of {saved.num_chunks} "
                                   "chunks); continue it with --resume, or delete the file to start again")
    return [], wanted


# -- the protocol suites -----------------------------------------------------------------------------------------------
@dataclass
class References:
    """Reference SMILES (lists) or dataset names for one protocol; ``None`` leaves the metrics that need it out."""

    train: Sequence[str] | str | None
    test: Sequence[str] | str | None
    test_scaffolds: Sequence[str] | str | None = None

    @classmethod
    def of_dataset(cls, dataset: str) -> References:
        """The published splits: MOSES train / test / test_scaffolds; otherwise train / test."""
        return cls(dataset, dataset, "moses" if dataset == "moses" else None)


def _suite(protocol: str) -> Callable[..., dict[str, float]]:
    """``evaluate_molecules`` with one protocol and a :class:`References` (the one scorer of every suite)."""

    def score(graphs: Sequence, refs: References, *, vocab: Any = None, n_jobs: int = 2, progress: bool = True,
              data_dir: Any = None, cache: bool = True) -> dict[str, float]:
        from graphgen.evaluate.molecules import evaluate_molecules

        return evaluate_molecules(graphs, train=refs.train, test=refs.test, test_scaffolds=refs.test_scaffolds,
                                  protocol=protocol, vocab=vocab, n_jobs=n_jobs, cache=cache, progress=progress,
                                  data_dir=data_dir)

    score.__name__ = score.__qualname__ = f"score_{protocol}"
    return score


score_moses = _suite("moses")
score_gdss = _suite("gdss")


# -- the command -----------------------------------------------------------------------------------------------------
def resolve_num_samples(args: Any) -> int:
    """``-n`` as given, else the protocol's default for the dataset."""
    n = args.num_samples if args.num_samples is not None else DEFAULT_SAMPLES.get(args.dataset, 1_000)
    if n < 1:
        raise SystemExit("graphgen bench generate: -n must be >= 1")
    return n


def prepare_samples(model: Any, args: Any, samples_path: Path, model_sha256: str | None) -> tuple[list, SamplingPlan]:
    """Every sample of the run (drawn, resumed or reused) and its finished plan."""
    wanted = SamplingPlan.new(str(args.model), model_sha256, resolve_num_samples(args), args.seed,
                              args.chunk_size or DEFAULT_CHUNK)
    graphs, plan = open_or_plan(samples_path, wanted, resume=args.resume, reuse=args.reuse_samples)
    if plan.complete:
        print(f"[bench] scoring {len(graphs)} saved samples from {samples_path}", file=sys.stderr)
        return graphs, plan
    if plan.chunks_done:
        print(f"[bench] resuming {samples_path}: {plan.chunks_done} of {plan.num_chunks} chunks done",
              file=sys.stderr)
    samples_path.parent.mkdir(parents=True, exist_ok=True)
    graphs = sample_in_chunks(model, plan, samples_path, graphs=graphs, batch_size=args.batch_size,
                              progress=not args.no_progress)
    print(f"[bench] saved the samples to {samples_path}", file=sys.stderr)
    return graphs, plan


def score_samples(graphs: Sequence, dataset: str, protocol: str, vocab: Any, *, refs: References | None = None,
                  progress: bool = True, data_dir: Any = None) -> dict[str, float]:
    """The dataset's suite: ``evaluate_molecules`` with ``protocol`` against the dataset's published references."""
    return _suite(protocol)(graphs, refs or References.of_dataset(dataset), vocab=vocab, progress=progress,
                            data_dir=data_dir)
