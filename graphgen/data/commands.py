"""``graphgen data list | info NAME | prepare NAME``: list, inspect and prepare datasets.

* ``list``: every registered dataset with its splits, a one-line description and its raw files (path relative to the
  data root, and whether it is there; no hashing).
* ``info NAME``: raw files with checksum status, split sizes, node/edge statistics (min/mean/max), the vocabulary,
  skipped rows and the cache location. Statistics come from the processed cache; splits not prepared yet show the
  raw row count only (run ``prepare`` first). A single-graph dataset (``retail_rocket``, ``aminer``) has no cache:
  ``info`` loads it (well under a second) and prints its counts (nodes, edges per relation, split sizes).
* ``prepare NAME``: check the raw files and build the cache of every split (or ``--split``); for a single-graph
  dataset it checks the raw files and the graph, and prints its counts.

The dataset card (``datasets/<name>.md``) is part of a source checkout; ``info`` names it only where it exists.
"""
from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

from graphgen.data.datasets.base import GraphDataset
from graphgen.data.datasets.hetero import HeteroGraphSpec
from graphgen.data.raw import ChecksumMismatchError, MissingRawFileError, cache_root, data_root
from graphgen.data.registry import DATASETS, get_spec
from graphgen.errors import GraphgenError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="list registered datasets and their raw files")
    listing.add_argument("--data-dir", default=None,
                         help="folder holding the raw files (default $GRAPHGEN_DATA, else ./datasets)")

    info = sub.add_parser("info", help="describe a dataset: raw files, splits, statistics, vocabulary, cache")
    info.add_argument("name", choices=list(DATASETS), metavar="NAME",
                      help="dataset name (listed by: graphgen data list)")
    info.add_argument("--data-dir", default=None, help="folder holding the raw files (default $GRAPHGEN_DATA)")
    info.add_argument("--max-skipped", type=int, default=20, help="skipped rows to print per split (default 20)")

    prep = sub.add_parser("prepare", help="check raw files and build the processed cache")
    prep.add_argument("name", choices=list(DATASETS), metavar="NAME",
                      help="dataset name (listed by: graphgen data list)")
    prep.add_argument("--data-dir", default=None, help="folder holding the raw files (default $GRAPHGEN_DATA)")
    prep.add_argument("--download", action="store_true", help="download missing raw files that have a direct URL")
    prep.add_argument("--split", action="append", default=None, help="split to prepare (repeatable; default all)")
    prep.add_argument("--num-workers", type=int, default=None, help="worker processes (default: all cores)")
    prep.add_argument("--rebuild", action="store_true", help="rebuild even if an up-to-date cache exists")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args.data_dir)
    if args.action == "info":
        return _info(args.name, args.data_dir, args.max_skipped)
    return _prepare(args)


def _list(data_dir: str | None) -> int:
    root = data_root(data_dir)
    print(f"data root: {root} ({_root_origin(data_dir)}); raw files marked 'missing' are not there")
    width = max(len(n) for n in DATASETS)
    for name, spec in DATASETS.items():
        print(f"{name:<{width}}  {'/'.join(spec.splits):<26} {spec.description}")
        for raw in spec.raw.values():
            print(f"    {raw.path}  {'present' if (root / raw.path).is_file() else 'missing'}")
    return 0


def _root_origin(data_dir: str | None) -> str:
    """Why the data root is where it is (the same order as :func:`graphgen.data.raw.data_root`)."""
    if data_dir is not None:
        return "from --data-dir"
    return "from $GRAPHGEN_DATA" if os.environ.get("GRAPHGEN_DATA") else "the default ./datasets; set $GRAPHGEN_DATA"


def _info(name: str, data_dir: str | None, max_skipped: int) -> int:
    spec = get_spec(name)
    print(f"{name}: {spec.description}")
    card = card_path(spec.card)
    if card is not None:  # a pip-installed graphgen has no datasets/ folder: name the card only where it exists
        print(f"card: {card}")
    print("raw files:")
    for st in spec.raw_status(data_dir):
        print(f"  [{st['role']}] {st['path']}  {st['status']}")
        print(f"      sha256 {st['sha256']}")
        print(f"      source {st['url']}{' (downloadable)' if st['downloadable'] == 'True' else ''}")
    if isinstance(spec, HeteroGraphSpec):  # one graph, no processed cache: its counts come from loading it
        return _info_single_graph(spec, data_dir)
    try:
        raw_sizes = spec.split_sizes(data_dir)
    except (MissingRawFileError, ChecksumMismatchError) as exc:
        raw_sizes = {}
        print(f"raw split sizes unavailable: {exc}")
    print(f"vocabulary: {json.dumps(spec.vocabulary())}")
    print(f"cache root: {cache_root() / name}")
    for split in spec.splits:
        cache = spec.cache_dir(split)
        raw_n = raw_sizes.get(split, "?")
        if not (cache / "meta.json").exists():
            print(f"split {split}: {raw_n} raw rows; not prepared (run `graphgen data prepare {name}`)")
            continue
        ds = GraphDataset(cache)
        m = ds.meta
        print(f"split {split}: {m['num_graphs']} graphs (from {m['skipped']['total']} raw rows)  cache {cache}")
        n, e = m["nodes"], m["edges"]
        print(f"    nodes per graph min/mean/max {n['min']}/{n['mean']}/{n['max']}   "
              f"edges per graph ({'directed' if m.get('directed') else 'undirected'}) "
              f"min/mean/max {e['min']}/{e['mean']}/{e['max']}")
        print("    arrays: " + ", ".join(f"{k} {v['dtype']}{v['shape']}" for k, v in m["arrays"].items()))
        sk = m["skipped"]
        print(f"    skipped rows: {sk['count']}")
        for row, why in sk["rows"][:max_skipped]:
            print(f"      row {row}: {why}")
        if sk["count"] > max_skipped:
            print(f"      ... {sk['count'] - max_skipped} more in {cache / 'meta.json'}")
        if m.get("notes"):
            print(f"    rows converted with a caveat: {len(m['notes'])}")
            for row, why in m["notes"][:max_skipped]:
                print(f"      row {row}: {why}")
    return 0


def _info_single_graph(spec: HeteroGraphSpec, data_dir: str | None) -> int:
    print(f"split all: one graph, no processed cache (load_dataset('{spec.name}') reads the raw files, well under a "
          "second); its train / val / test parts are attributes of the graph")
    try:
        counts = spec.counts(spec.load(None, data_dir))
    except GraphgenError as exc:  # missing / damaged raw files were reported above; say why there are no counts
        print(f"counts unavailable: {exc}")
        return 0
    _print_counts(counts)
    return 0


def _print_counts(counts: dict[str, int]) -> None:
    width = max(len(k) for k in counts)
    for key, value in counts.items():
        print(f"    {key:<{width}}  {value}")


def card_path(card: str) -> Path | None:
    """The dataset card ``card`` (``datasets/<name>.md``, relative to a source checkout) if it exists here: under the
    current folder or beside the installed package; else None."""
    checkout = Path(__file__).resolve().parents[2]  # graphgen/data/commands.py -> the checkout's root
    for path in (Path(card), checkout / card):
        if path.is_file():
            return path.resolve()  # absolute: a relative path would read as if every user had a datasets/ folder
    return None


def _prepare(args: argparse.Namespace) -> int:
    spec = get_spec(args.name)
    if isinstance(spec, HeteroGraphSpec):
        return _prepare_single_graph(spec, args)
    splits = args.split or list(spec.splits)
    for split in splits:
        spec.check_split(split)
    for split in splits:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = spec.prepare(split, args.data_dir, download=args.download, num_workers=args.num_workers,
                                rebuild=args.rebuild)
        ds = GraphDataset(path)
        m = ds.meta
        print(f"{args.name}/{split}: {m['num_graphs']} graphs, {m['num_nodes']} nodes, {m['num_edges']} directed "
              f"edges, {m['skipped']['count']} skipped rows -> {path}")
        for w in caught:
            print(f"  warning: {w.message}")
    return 0


def _prepare_single_graph(spec: HeteroGraphSpec, args: argparse.Namespace) -> int:
    """Nothing to build: check the raw files (download what has a URL when asked) and the graph, print its counts."""
    for split in args.split or []:
        spec.check_split(split)
    folder = spec.prepare(data_dir=args.data_dir, download=args.download)
    counts = spec.counts(spec.load(None, args.data_dir))
    print(f"{args.name}/all: raw files in {folder} checked, one graph; nothing to cache (load_dataset reads the raw "
          "files)")
    _print_counts(counts)
    return 0
