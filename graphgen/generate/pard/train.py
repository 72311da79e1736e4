"""``graphgen train pard --dataset NAME``: train the PARD generator through the shared trainer.

The run is configured by :class:`PARDRunConfig` (preset ``graphgen/train/configs/pard_<dataset>.yaml``, else
``pard.yaml``; ``--config FILE``; ``--set model.hidden=128``); the run folder is the shared layout of
:mod:`graphgen.train.checkpoint` (``last/``, ``ema/`` to sample from, ``best/`` with ``--select``, ``log.jsonl``,
``config.yaml``).

Values measured on the training graphs (``max_block_size``, ``max_degree``, ``max_nodes``, the type counts and the
vocabulary) go into the model's own ``config.json``, never back into the run config; setting one of them in the run
config is an error.

Start-up: the block decomposition (pure Python, about 75 s for QM9's 120k graphs) and those measured values are
computed once per registered dataset, split and ``max_hops`` and kept beside the dataset's cache
(:func:`cached_block_table`); later runs read them in well under a second, and the training graphs are built from
the dataset cache when a batch asks for them (:class:`BlockedGraphs`), never all at once. A user file's graphs are
decomposed in memory on every run. With ``--minutes``, a start-up that alone uses the budget ends the command with
one line saying how long it took (the shared trainer's :func:`graphgen.train.trainer.refuse_spent_budget`, as for
every trainer) instead of training past the budget.

- ``--init NAME_OR_PATH`` warm-starts from saved weights (the architecture is the saved one; fresh optimiser).
- ``--resume`` continues ``--out`` from its last complete checkpoint; the architecture comes from the checkpoint.
- ``--set heads_only=true`` (with ``--init``) trains only the start token and the next-block size/degree heads on
  the frozen denoiser; a model saved before the joint size->degree head first gets it (zero-initialised, so it
  starts as the old independent head). The checkpoint remembers the mode for ``--resume``.
- ``--select`` (generic graphs) scores the EMA at every checkpoint by the GDSS-protocol MMDs (degree + clustering +
  orbit) of a fixed-seed draw against the *training* graphs and keeps the best in ``best/``: the last checkpoint is
  not always the best one on small datasets, and the test split stays untouched.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch_geometric.data import Data

from graphgen.generate.pard.model import PARDConfig, PARDGenerator
from graphgen.train.config import ConfigError
from graphgen.train.runs import load_split
from graphgen.train.trainer import TrainerConfig

# PARDConfig fields measured on the training data (see resolve_model_config)
DERIVED = ("num_node_types", "num_edge_types", "vocab", "max_block_size", "max_degree", "max_nodes")
SELECT_STATS = ("degree", "clustering", "orbit")


@dataclasses.dataclass
class PARDRunConfig:
    """A PARD training run: what to train on, the architecture, how to train it."""

    dataset: str = "qm9"
    split_seed: int = 0                  # a user's file: the seed of its train/val/test split
    heads_only: bool = False             # with --init: train only the next-block size/degree heads
    select_samples: int | None = None    # graphs per selection draw (default: training-set size, at most 256)
    model: PARDConfig = dataclasses.field(default_factory=PARDConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)


# -- the block decomposition of the training graphs, computed once per dataset --------------------------------------
# A decomposition beside a dataset cache: <dataset cache folder>/pard-blocks-k<K>-<key>/ in the dataset cache layout
# (graphgen.data.datasets.base: node_ptr / edge_ptr / rows / node.* / graph.* arrays, meta.json, manifest.json), so it
# is written atomically, checked on every open and removed with the dataset cache it was computed from.
BLOCK_CACHE_PREFIX = "pard-blocks-"


@dataclasses.dataclass
class BlockTable:
    """The PARD decomposition of a list of graphs, plus everything the model config and the noise marginals are
    measured from, so a start-up never walks the graphs again.

    Attributes:
        node_ptr: int64 [G+1]; graph ``g`` owns ``block[node_ptr[g]:node_ptr[g+1]]``.
        block: int [N_total] block of every node (0 = generated first), in a small integer dtype (memory-mapped
            when read from a cache); :meth:`block_of` widens one graph's slice to int64.
        max_block_size: int [G] size of each graph's largest block.
        max_block_degree: int [G] largest block degree of each graph (:func:`block_degrees`).
        counts: label counts over all graphs, the sums of :meth:`PARDGenerator.set_marginals`: ``nodes``,
            ``node_pairs`` (sum of n(n-1)/2), ``edges`` (undirected), ``node_labels`` / ``edge_labels`` (bincounts of
            ``x`` / of ``edge_attr`` over undirected edges; ``None`` when the graphs carry none).
    """

    node_ptr: np.ndarray
    block: np.ndarray
    max_block_size: np.ndarray
    max_block_degree: np.ndarray
    counts: dict[str, Any]

    def __len__(self) -> int:
        return len(self.node_ptr) - 1

    def block_of(self, g: int) -> torch.Tensor:
        """long [n_g] block vector of graph ``g``."""
        return torch.from_numpy(self.block[self.node_ptr[g]:self.node_ptr[g + 1]].astype(np.int64))


def _add_counts(total: np.ndarray | None, values: torch.Tensor) -> np.ndarray:
    """``total`` plus the bincount of ``values`` (the longer of the two lengths)."""
    counts = np.bincount(values.numpy().reshape(-1).astype(np.int64))
    if total is None:
        return counts
    size = max(len(total), len(counts))
    return np.pad(total, (0, size - len(total))) + np.pad(counts, (0, size - len(counts)))


def _node_counts(graphs: Sequence) -> np.ndarray:
    """int64 [G] nodes of each graph: a dataset cache's ``node_ptr`` when there is one (no graph is built for it),
    else read from the graphs (a user file's graphs, already a list in memory)."""
    counts = getattr(graphs, "num_nodes_per_graph", None)
    if counts is not None:
        return np.asarray(counts, dtype=np.int64)
    return np.fromiter((int(data.num_nodes) for data in graphs), dtype=np.int64, count=len(graphs))


def _block_dtype(max_nodes: int) -> np.dtype:
    """The smallest signed integer dtype holding the block indices of graphs of up to ``max_nodes`` nodes (a graph
    of ``n`` nodes has at most ``n`` blocks, numbered from 0): int8 for molecules, so the flat block vector of
    MOSES's 1.58M molecules is about 35 MB where int64 took 280 MB. No nodes at all: int64, the dtype of the empty
    vector the cache has always stored."""
    if max_nodes == 0:
        return np.dtype(np.int64)
    for dtype in (np.int8, np.int16, np.int32):
        if max_nodes - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def decompose_graphs(graphs: Sequence, max_hops: int, *, progress: bool = True) -> BlockTable:
    """The :class:`BlockTable` of ``graphs`` (pure Python per graph: about 75 s for QM9's 120k graphs, one busy
    core).

    Each graph's blocks are written straight into one flat array allocated up front from the node counts, so the
    build holds no per-graph array (about 1.3 KB each: 2 GB for MOSES); ``block`` comes out in the smallest integer
    dtype that holds it (:func:`_block_dtype`)."""
    from tqdm.auto import tqdm

    from graphgen.errors import InputError
    from graphgen.generate.pard.blocks import block_decomposition, block_degrees, block_sizes

    sizes = _node_counts(graphs)
    node_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    blocks = np.zeros(int(node_ptr[-1]), dtype=_block_dtype(int(sizes.max()) if len(sizes) else 0))
    max_size, max_degree = np.zeros(len(graphs), np.int64), np.zeros(len(graphs), np.int64)
    node_labels = edge_labels = None
    has_x = has_edge_attr = True
    edges = node_pairs = 0
    # disable only when asked: an explicit disable=False would override TQDM_DISABLE (`graphgen ... --no-progress`)
    bar_off = {} if progress else {"disable": True}
    for g, data in enumerate(tqdm(graphs, desc="block decomposition", unit="graph", mininterval=5, **bar_off)):
        n = int(data.num_nodes)
        if n != sizes[g]:   # the slice of graph g was sized from the counts: a graph that disagrees is not the cache's
            raise InputError(f"graph {g} has {n} nodes but its dataset counts {int(sizes[g])}: the dataset cache is "
                             "damaged; rebuild it")
        block = block_decomposition(data.edge_index, n, max_hops=max_hops)
        blocks[node_ptr[g]:node_ptr[g + 1]] = block.numpy()
        max_size[g] = int(block_sizes(block).max()) if n else 0
        max_degree[g] = int(block_degrees(data.edge_index, block).max()) if n else 0
        upper = data.edge_index[0] < data.edge_index[1]   # each undirected edge once, as set_marginals counts it
        edges += int(upper.sum())
        node_pairs += n * (n - 1) // 2
        has_x = has_x and getattr(data, "x", None) is not None
        has_edge_attr = has_edge_attr and getattr(data, "edge_attr", None) is not None
        if has_x:
            node_labels = _add_counts(node_labels, data.x)
        if has_edge_attr:
            edge_labels = _add_counts(edge_labels, data.edge_attr.reshape(-1)[upper])
    counts = {"nodes": int(sizes.sum()), "node_pairs": node_pairs, "edges": edges,
              "node_labels": node_labels.tolist() if has_x and node_labels is not None else None,
              "edge_labels": edge_labels.tolist() if has_edge_attr and edge_labels is not None else None}
    return BlockTable(node_ptr=node_ptr, block=blocks, max_block_size=max_size, max_block_degree=max_degree,
                      counts=counts)


def block_cache_dir(dataset_dir: Path, max_hops: int) -> Path:
    """Where the decomposition of the dataset cached in ``dataset_dir`` is kept: the key hashes the cache format,
    the dataset cache's own key (its folder name), ``max_hops`` and :data:`~blocks.DECOMPOSITION_VERSION`."""
    from graphgen.data.datasets.base import CACHE_FORMAT
    from graphgen.generate.pard.blocks import DECOMPOSITION_VERSION

    payload = json.dumps({"format": CACHE_FORMAT, "dataset": dataset_dir.name, "max_hops": max_hops,
                          "version": DECOMPOSITION_VERSION}, sort_keys=True)
    return dataset_dir / f"{BLOCK_CACHE_PREFIX}k{max_hops}-{hashlib.sha256(payload.encode()).hexdigest()[:16]}"


def write_block_table(table: BlockTable, folder: Path, about: dict[str, Any]) -> None:
    """Write ``table`` as the cache folder ``folder`` (atomically; ``about`` goes into its meta.json) and remove
    decompositions of the same ``max_hops`` under other keys (an older :data:`~blocks.DECOMPOSITION_VERSION`)."""
    from graphgen.data.datasets.base import META_NAME, _compact, _publish, cache_counts, write_manifest

    arrays = {"node.block": _compact(table.block), "graph.max_block_size": _compact(table.max_block_size),
              "graph.max_block_degree": _compact(table.max_block_degree)}
    num_graphs, num_nodes = len(table), int(table.node_ptr[-1])
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=folder.parent))
    try:
        np.save(tmp / "node_ptr.npy", table.node_ptr)
        np.save(tmp / "edge_ptr.npy", np.zeros(num_graphs + 1, np.int64))   # no edges: the dataset cache has them
        np.save(tmp / "rows.npy", np.arange(num_graphs, dtype=np.int64))   # graph g of the split
        for key, arr in arrays.items():
            np.save(tmp / f"{key}.npy", np.ascontiguousarray(arr))
        meta = {"name": folder.name, "split": about.get("split"), "num_graphs": num_graphs, "num_nodes": num_nodes,
                "num_edges": 0, "has_smiles": False, "counts": table.counts, **about,
                "arrays": {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in arrays.items()},
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (tmp / META_NAME).write_text(json.dumps(meta, indent=1))
        write_manifest(tmp, cache_counts(num_graphs, num_nodes, 0, None))
        _publish(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in folder.parent.glob(f"{BLOCK_CACHE_PREFIX}k{about['max_hops']}-*"):
        if old != folder and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)


def read_block_table(folder: Path, num_nodes: np.ndarray, about: dict[str, Any]) -> BlockTable:
    """The decomposition cached in ``folder``, after checking it against its manifest, against ``about`` (what it
    was computed with) and against ``num_nodes`` (int [G], the nodes of each graph it must describe).

    Raises:
        CorruptCacheError: naming the file that is damaged or that describes other graphs.
    """
    from graphgen.data.datasets.base import META_NAME, CorruptCacheError, verify_cache

    meta = verify_cache(folder)
    differs = {k: (meta.get(k), v) for k, v in about.items() if meta.get(k) != v}
    if differs:
        raise CorruptCacheError(folder / META_NAME, f"computed with {differs} (stored, wanted)")
    node_ptr = np.load(folder / "node_ptr.npy")
    if not np.array_equal(np.diff(node_ptr), num_nodes):
        raise CorruptCacheError(folder / "node_ptr.npy", "node counts differ from the dataset's: made for other graphs")
    # the block vector (one entry per node: 35 MB of int8 for MOSES, 280 MB widened) is memory-mapped in its stored
    # dtype and widened one graph at a time (BlockTable.block_of); its pages are shared by the processes of a
    # torchrun, and mapping is safe because a cache folder is replaced by a rename, never rewritten in place.
    # The per-graph arrays are small: read whole, in their stored dtype too.
    block = np.load(folder / "node.block.npy", mmap_mode="r")
    load = lambda key: np.load(folder / f"{key}.npy")  # noqa: E731
    return BlockTable(node_ptr=node_ptr, block=block, max_block_size=load("graph.max_block_size"),
                      max_block_degree=load("graph.max_block_degree"), counts=meta["counts"])


def cached_block_table(dataset: Any, max_hops: int, *, progress: bool = True) -> BlockTable:
    """The :class:`BlockTable` of a registered dataset's split (a :class:`GraphDataset`), computed on first use and
    kept beside its cache; a damaged or stale copy is recomputed with a one-line note."""
    from graphgen.data.datasets.base import CorruptCacheError
    from graphgen.generate.pard.blocks import DECOMPOSITION_VERSION

    folder = block_cache_dir(dataset.cache_dir, max_hops)
    about = {"dataset": dataset.cache_dir.name, "split": dataset.split, "max_hops": max_hops,
             "decomposition_version": DECOMPOSITION_VERSION}
    if folder.exists():
        try:
            return read_block_table(folder, np.asarray(dataset.num_nodes_per_graph), about)
        except CorruptCacheError as err:
            print(f"[pard] {err.path}: {err.problem}; recomputing the block decomposition", flush=True)
    t0 = time.perf_counter()
    table = decompose_graphs(dataset, max_hops, progress=progress)
    try:
        write_block_table(table, folder, {**about, "build_seconds": round(time.perf_counter() - t0, 3)})
    except OSError as err:   # a read-only cache folder: train anyway, the next run computes it again
        print(f"[pard] could not keep the block decomposition in {folder} ({err}); it is recomputed next time",
              flush=True)
    return table


class BlockedGraphs(Sequence):
    """``graphs[i]`` with its ``block`` vector from ``table``, built when a batch asks for it (the training set is
    not held as 120k ``Data`` objects)."""

    def __init__(self, graphs: Sequence, table: BlockTable) -> None:
        if len(graphs) != len(table):
            raise ValueError(f"{len(graphs)} graphs but a block table of {len(table)}")
        self.graphs, self.table = graphs, table

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, i: int) -> Data:   # type: ignore[override]  (integers only: what GraphList asks for)
        data = copy.copy(self.graphs[i])   # shallow: the caller's graph keeps no block
        data.block = self.table.block_of(i)
        return data


def resolve_model_config(model: PARDConfig, table: BlockTable, vocab) -> PARDConfig:
    """``model`` with the values measured on the training graphs (their :class:`BlockTable`) filled in."""
    defaults = PARDConfig()
    set_by_user = [k for k in DERIVED if getattr(model, k) != getattr(defaults, k)]
    if set_by_user:
        raise ConfigError(f"model.{', model.'.join(set_by_user)} {'is' if len(set_by_user) == 1 else 'are'} measured "
                         "on the training data; remove them from the run config")
    if vocab is not None:
        num_node_types, num_edge_types = vocab.num_atom_types, vocab.num_bond_types + 1
        vocab_value = vocab.name if _is_registered_vocab(vocab) else vocab.to_dict()
    else:
        num_node_types, num_edge_types, vocab_value = 1, 2, None
    return dataclasses.replace(
        model, num_node_types=num_node_types, num_edge_types=num_edge_types, vocab=vocab_value,
        max_block_size=int(table.max_block_size.max()), max_degree=int(table.max_block_degree.max()),
        max_nodes=int(np.diff(table.node_ptr).max()))


def set_marginals_from_counts(model: PARDGenerator, counts: dict[str, Any]) -> None:
    """What ``model.set_marginals(graphs)`` sets, from the graphs' label counts (:attr:`BlockTable.counts`) instead
    of a pass over every graph. Counts are summed as integers, so beyond 2^24 they are exact where the float32 sums
    of ``set_marginals`` round."""
    if model.config.noise != "marginal":
        model.set_marginals([])   # uniform limits: nothing is counted
        return
    num_node_types, num_edge_types = model.config.num_node_types, model.config.num_edge_types
    if num_node_types > 1:
        node = _padded(counts["node_labels"], num_node_types, "node label (x)")
    else:
        node = [counts["nodes"]]
    if num_edge_types > 2:
        edge = [0] + _padded(counts["edge_labels"], num_edge_types - 1, "edge label (edge_attr)")
    else:
        edge = [0, counts["edges"]]
    edge[0] = counts["node_pairs"] - counts["edges"]   # class 0: the node pairs without an edge
    node_t, edge_t = torch.tensor(node, dtype=torch.float64), torch.tensor(edge, dtype=torch.float64)
    model.node_diffusion.limit.copy_(node_t / node_t.sum())
    model.edge_diffusion.limit.copy_(edge_t / edge_t.sum())


def _padded(labels: list[int] | None, size: int, what: str) -> list[int]:
    """``labels`` (a bincount) padded with zeros to ``size`` entries."""
    if labels is None:
        raise ValueError(f"the model has {size} {what} classes but the training graphs carry no {what}")
    if len(labels) > size:
        raise ValueError(f"the training graphs use {what} {len(labels) - 1}, the model has {size} classes")
    return list(labels) + [0] * (size - len(labels))


def _is_registered_vocab(vocab) -> bool:
    from graphgen.data.molecules import VOCABS

    return VOCABS.get(vocab.name) == vocab


def selection_fn(graphs: list, num_samples: int, seed: int = 12345):
    """Evaluation for ``--select``: MMDs of a fixed-seed draw of the EMA model against the training graphs."""
    def evaluate(model: PARDGenerator) -> dict[str, float]:
        from graphgen.evaluate import evaluate_graphs

        samples = model.sample(num_samples, generator=torch.Generator().manual_seed(seed))
        scores = evaluate_graphs(samples, graphs, protocol="gdss", progress=False, num_workers=0)
        row = {k: float(scores[k]) for k in SELECT_STATS}
        row["score"] = sum(row.values())
        row["reference"] = f"{len(graphs)} training graphs, {num_samples} samples, seed {seed}"
        return row
    return evaluate


def load_training_graphs(cfg: PARDRunConfig, args: argparse.Namespace, run_dir: Path) -> tuple[Sequence, Any]:
    """The training split (without blocks) and its vocabulary: a registered dataset's :class:`GraphDataset` as it
    is (graphs are built from its cache when a batch asks for them), a user file's graphs as a list."""
    from graphgen.data.registry import DATASETS, load_dataset
    from graphgen.train.distributed import init, main_first

    if cfg.dataset in DATASETS:
        with main_first(init()):   # rank 0 builds the on-disk cache, the others then read it
            dataset = load_dataset(cfg.dataset, "train", data_dir=args.data_dir)
        return dataset, getattr(dataset, "vocab", None)
    return load_split(cfg.dataset, "train", args.data_dir, seed=cfg.split_seed, run_dir=run_dir)


def block_table(graphs: Sequence, max_hops: int, *, progress: bool) -> BlockTable:
    """The :class:`BlockTable` of the training graphs: cached beside a registered dataset's cache (rank 0 computes
    it first under torchrun), computed in memory for a user file's graphs."""
    from graphgen.data.datasets.base import GraphDataset
    from graphgen.train.distributed import init, main_first

    if isinstance(graphs, GraphDataset):
        with main_first(init()):
            return cached_block_table(graphs, max_hops, progress=progress)
    return decompose_graphs(graphs, max_hops, progress=progress)


def build(cfg: PARDRunConfig, args: argparse.Namespace, run_dir: Path, *, resume: bool):
    """The model, its training graphs (a :class:`BlockedGraphs`) and the training mode for this command line."""
    from graphgen.train.runs import resumed_extra
    from graphgen.train.checkpoint import RunFolder

    graphs, vocab = load_training_graphs(cfg, args, run_dir)
    print(f"[pard] {cfg.dataset}: {len(graphs)} training graphs")
    if cfg.trainer.select and vocab is not None:
        raise ConfigError(f"--select scores generic-graph MMDs; it is not for molecule datasets ({cfg.dataset}); "
                          "pick a molecule checkpoint with `graphgen bench generate` instead")
    heads_only = cfg.heads_only
    model = None
    if resume:
        model = PARDGenerator.from_pretrained(RunFolder(run_dir).link("last"))
        heads_only = bool(resumed_extra(RunFolder(run_dir)).get("heads_only", heads_only))
    elif args.init:
        from graphgen.generate import load_generator

        model = load_generator(args.init)
        if not isinstance(model, PARDGenerator):
            raise ConfigError(f"--init {args.init}: a {type(model).__name__}, not a PARD model")
        if heads_only and not model.config.degree_given_size:
            model = model.with_joint_block_head()
            print("[pard] the degree head now sees the next block's size (zero-initialised size embedding)")
        print(f"[pard] warm start from {args.init} (architecture from its config; fresh optimiser)")
    elif heads_only:
        raise ConfigError("heads_only trains the block heads of an existing model; give --init")
    # a saved model fixes the decomposition it was trained with; a new one takes the run config's
    table = block_table(graphs, cfg.model.max_hops if model is None else model.config.max_hops,
                        progress=cfg.trainer.progress)
    if model is None:
        torch.manual_seed(cfg.trainer.seed)   # application entry: the initial weights
        model = PARDGenerator(resolve_model_config(cfg.model, table, vocab))
        set_marginals_from_counts(model, table.counts)
    if heads_only:   # everything but the start token and the size/degree heads stays as loaded
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(PARDGenerator.BLOCK_HEAD_PREFIXES))
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"[pard] heads only: {trainable} of {model.num_parameters()} parameters train")
    return model, BlockedGraphs(graphs, table), heads_only


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from graphgen.train.runs import add_run_arguments

    add_run_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from graphgen.train import distributed
    from graphgen.train.runs import start_run
    from graphgen.train.trainer import GraphList, Trainer

    cfg, ctx, out = start_run(args, PARDRunConfig, "pard")
    model, graphs, heads_only = build(cfg, args, out, resume=args.resume)
    if ctx.is_main:
        print(model)
    evaluate = None
    if cfg.trainer.select:   # generic graphs only (refused for molecules above): few enough to hold as a list
        evaluate = selection_fn(list(graphs), cfg.select_samples or min(len(graphs), 256))
    def heads_loss(m: PARDGenerator, batch: Any, generator: torch.Generator):
        return m.block_head_loss_terms(batch)
    loss_fn = heads_loss if heads_only else None
    trainer = Trainer(model, GraphList(graphs), cfg.trainer, out, run_config=cfg, loss_fn=loss_fn,
                      evaluate_fn=evaluate, state_extra={"heads_only": heads_only, "init": args.init}, ctx=ctx)
    summary = trainer.fit(resume=args.resume)
    if ctx.is_main:
        print(json.dumps(summary))
        print(f"[pard] sample with: graphgen sample {out / 'ema'} -n 100")
    distributed.shutdown(ctx)
    return 0
