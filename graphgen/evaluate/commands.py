"""``graphgen evaluate``: score generated molecules or graphs with the published protocols.

Examples::

    graphgen evaluate molecules --dataset qm9 samples.smi --protocol gdss --json scores.json
    graphgen evaluate graphs --dataset planar samples.json --json scores.json
    graphgen evaluate graphs --dataset enzymes samples.txt --protocol gdss

Molecule files hold one SMILES per line (blank lines are skipped and counted; every other line is scored, so an
unparsable SMILES counts as invalid). Graph files are JSON (``{"graphs": [{"num_nodes": n, "edges": [[u, v], ...]},
...]}``, optionally gzipped) or edge-list text (graphs separated by blank lines, optional ``# nodes N`` header line,
one ``u v`` per line); see :mod:`graphgen.evaluate.graphs`. Reference graphs are the dataset's test split and the
train split gives the MMD ratios and novelty (``graphgen.data.registry.load_dataset``); ``--reference`` / ``--train``
take graph files instead.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

# dataset -> (default protocol, validity check used for V.U.N.)
GRAPH_DATASETS: dict[str, tuple[str, str | None]] = {
    "community_small": ("gdss", None),
    "ego_small": ("gdss", None),
    "grid": ("gdss", None),
    "enzymes": ("gdss", None),
    "comm20": ("spectre", None),
    "planar": ("spectre", "planar"),
    "sbm": ("spectre", "sbm"),
    "tree": ("spectre", "tree"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", required=True)

    mol = sub.add_parser("molecules", help="score generated SMILES (validity, uniqueness, novelty, FCD, NSPDK, ...)")
    mol.add_argument("file", type=Path, help="generated molecules, one SMILES per line")
    mol.add_argument("--dataset", required=True, help="reference dataset: qm9, zinc250k or moses")
    mol.add_argument("--protocol", default="gdss", choices=["gdss", "digress", "moses"])
    mol.add_argument("--data-dir", default=None, help="data root (default: $GRAPHGEN_DATA)")
    mol.add_argument("--json", type=Path, default=None, help="write the scores to this JSON file")

    gr = sub.add_parser("graphs", help="score generated generic graphs (MMD, ratios, V.U.N.)")
    gr.add_argument("file", type=Path, help="generated graphs: .json / .json.gz graph file or edge-list text")
    gr.add_argument("--dataset", required=True, choices=sorted(GRAPH_DATASETS), help="reference dataset")
    gr.add_argument("--protocol", default=None, choices=["gdss", "spectre", "digress"],
                    help="default: gdss for community_small/ego_small/grid/enzymes, spectre for the others")
    gr.add_argument("--validity", default=None, choices=["planar", "tree", "sbm", "none"],
                    help="validity check for V.U.N. (default: the dataset's own, if any)")
    gr.add_argument("--reference", type=Path, default=None, help="graph file to use instead of the test split")
    gr.add_argument("--train", type=Path, default=None, help="graph file to use instead of the train split")
    gr.add_argument("--data-dir", default=None, help="data root (default: $GRAPHGEN_DATA)")
    gr.add_argument("--workers", type=int, default=None, help="processes for per-graph statistics (0 = serial)")
    gr.add_argument("--json", type=Path, default=None, help="write the scores to this JSON file")


def run(args: argparse.Namespace) -> int:
    if args.kind == "molecules":
        scores = _run_molecules(args)
    else:
        scores = _run_graphs(args)
    print(format_table(scores))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_jsonable(scores), indent=2))
        print(f"wrote {args.json}")
    return 0


def read_smiles_file(path: Path) -> tuple[list[str], int]:
    """Non-blank lines of a SMILES file (first whitespace-separated token) and the number of blank lines skipped."""
    smiles, blank = [], 0
    for line in path.read_text().splitlines():
        if line.strip():
            smiles.append(line.split()[0])
        else:
            blank += 1
    return smiles, blank


def _run_molecules(args: argparse.Namespace) -> dict[str, float]:
    from graphgen.evaluate.molecules import evaluate_molecules  # imported lazily: RDKit/FCD are heavy

    smiles, blank = read_smiles_file(args.file)
    if not smiles:
        raise SystemExit(f"{args.file}: no SMILES found (expected one SMILES per line)")
    if blank:
        print(f"{args.file}: skipped {blank} blank line(s)")
    scores = dict(evaluate_molecules(smiles, train=args.dataset, test=args.dataset, protocol=args.protocol,
                                     data_dir=args.data_dir))
    scores["blank_lines_skipped"] = float(blank)
    return scores


def _load_split(name: str, split: str, data_dir: str | None) -> list:
    from graphgen.data.registry import load_dataset

    return list(load_dataset(name, split, data_dir=data_dir))


def _run_graphs(args: argparse.Namespace) -> dict[str, float]:
    from graphgen.evaluate.graphs import evaluate_graphs, read_graphs

    protocol_default, validity_default = GRAPH_DATASETS[args.dataset]
    protocol = args.protocol or protocol_default
    validity = validity_default if args.validity is None else (None if args.validity == "none" else args.validity)
    generated = read_graphs(args.file)
    if not generated:
        raise SystemExit(f"{args.file}: no graphs found")
    reference = read_graphs(args.reference) if args.reference else _load_split(args.dataset, "test", args.data_dir)
    train = read_graphs(args.train) if args.train else _load_split(args.dataset, "train", args.data_dir)
    print(f"{args.dataset} ({protocol}): {len(generated)} generated, {len(reference)} reference, {len(train)} train")
    return evaluate_graphs(generated, reference, protocol, train=train, validity=validity,
                           num_workers=args.workers)


def format_table(scores: dict[str, float]) -> str:
    """Two-column text table, one metric per row."""
    width = max((len(k) for k in scores), default=6)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  {'-' * 12}"]
    for key, value in scores.items():
        if isinstance(value, float) and math.isfinite(value) and value != int(value):
            text = f"{value:.6g}"
        else:
            text = str(int(value)) if isinstance(value, float) and math.isfinite(value) else str(value)
        lines.append(f"{key:<{width}}  {text}")
    return "\n".join(lines)


def _jsonable(scores: dict) -> dict:
    """JSON has no nan/inf: write them as strings."""
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in scores.items()}
