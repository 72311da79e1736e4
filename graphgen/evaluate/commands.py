"""``graphgen evaluate``: score generated molecules, graphs, scene graphs or lane graphs with the published protocols.

Examples::

    graphgen evaluate molecules --dataset qm9 samples.smi --protocol gdss --json scores.json
    graphgen evaluate graphs --dataset planar samples.json --json scores.json
    graphgen evaluate graphs --dataset enzymes samples.txt --protocol gdss
    graphgen evaluate scene-graphs --dataset coco_sg samples.json --json scores.json
    graphgen evaluate lanes --dataset lanes samples.json --json scores.json

Molecule files are chosen by extension: ``.smi`` holds one SMILES per line (blank lines are skipped and counted;
every other line is scored, so an unparsable SMILES counts as invalid), ``.sdf`` is read with RDKit's
``SDMolSupplier`` (a record RDKit cannot read counts as invalid); any other extension is an error. Graph files are JSON (``{"graphs": [{"num_nodes": n, "edges": [[u, v], ...]},
...]}``, optionally gzipped) or edge-list text (graphs separated by blank lines, optional ``# nodes N`` header line,
one ``u v`` per line); see :mod:`graphgen.evaluate.graphs`. Reference graphs are the dataset's test split and the
train split gives the MMD ratios and novelty (``graphgen.data.registry.load_dataset``); ``--reference`` / ``--train``
take graph files instead.

``--dataset`` may also be the user's own data file a model was trained on (``datasets/user_files.md``): novelty is
measured against the file's train split (what the model saw) and FCD / NSPDK / MMD against its test split (held
out), as for the registered datasets. The split is the one training drew: pass the run's ``split.json`` with
``--split-file`` (checked against the file's sha256), or the training seed with ``--split-seed`` (default 0, the
trainers' default). A small file has a small test split (10%), so its FCD / MMD are noisy.

Scene-graph files are the JSON format of :mod:`graphgen.data.scene_graphs` (``read_scene_graphs``); they are scored
with :func:`graphgen.evaluate.scene_graphs.evaluate_scene_graphs` against the dataset's ``--split`` (default test),
with triplet novelty against its train split.

Lane-graph files are the JSON format of :mod:`graphgen.data.lane_graphs` (``read_lane_graphs``); they are scored with
:func:`graphgen.evaluate.lane_graphs.evaluate_lane_graphs` (SLEDGE's lane metrics and geometric plausibility) against
the dataset's ``--split`` (default test).
"""
from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

from graphgen.errors import InputError

# molecule file extension -> what it holds (``graphgen sample`` writes the same two)
MOLECULE_FORMATS: dict[str, str] = {".smi": "one SMILES per line", ".sdf": "an SD file (RDKit SDMolSupplier)"}
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
# registered scene-graph datasets (graphgen.data.registry); both share the COCO vocabulary
SCENE_GRAPH_DATASETS: tuple[str, ...] = ("coco_sg", "coco_sg2im")
# registered lane-graph datasets (graphgen.data.registry)
LANE_GRAPH_DATASETS: tuple[str, ...] = ("lanes",)
# single-graph heterogeneous sets (DiffGraph): scored by graphgen train / bench diffgraph, not by a file evaluator
HETERO_DATASETS: tuple[str, ...] = ("retail_rocket", "aminer")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="kind", required=True)

    mol = sub.add_parser("molecules", help="score generated SMILES (validity, uniqueness, novelty, FCD, NSPDK, ...)")
    mol.add_argument("file", type=Path, help="generated molecules: .smi (one SMILES per line) or .sdf")
    mol.add_argument("--dataset", required=True,
                     help="reference dataset: qm9, zinc250k or moses, or the SMILES / CSV file the model was trained "
                          "on (novelty vs its train split, FCD/NSPDK vs its test split)")
    _add_split_arguments(mol)
    mol.add_argument("--protocol", default="gdss", choices=["gdss", "digress", "moses"])
    mol.add_argument("--data-dir", default=None, help="data root (default: $GRAPHGEN_DATA)")
    mol.add_argument("--json", type=Path, default=None, help="write the scores to this JSON file")
    _add_progress_argument(mol)

    gr = sub.add_parser("graphs", help="score generated generic graphs (MMD, ratios, V.U.N.)")
    gr.add_argument("file", type=Path, help="generated graphs: .json / .json.gz graph file or edge-list text")
    gr.add_argument("--dataset", required=True,
                    help=f"reference dataset: {', '.join(sorted(GRAPH_DATASETS))}, or the graph file (.json / .edges) "
                         f"the model was trained on (its test split is the reference, its train split the train set)")
    _add_split_arguments(gr)
    gr.add_argument("--protocol", default=None, choices=["gdss", "spectre", "digress"],
                    help="default: gdss for community_small/ego_small/grid/enzymes and data files, spectre for the "
                         "others")
    gr.add_argument("--validity", default=None, choices=["planar", "tree", "sbm", "none"],
                    help="validity check for V.U.N. (default: the dataset's own, if any)")
    gr.add_argument("--reference", type=Path, default=None, help="graph file to use instead of the test split")
    gr.add_argument("--train", type=Path, default=None, help="graph file to use instead of the train split")
    gr.add_argument("--data-dir", default=None, help="data root (default: $GRAPHGEN_DATA)")
    gr.add_argument("--workers", type=int, default=None, help="processes for per-graph statistics (0 = serial)")
    gr.add_argument("--json", type=Path, default=None, help="write the scores to this JSON file")
    _add_progress_argument(gr)

    sg = sub.add_parser("scene-graphs", help="score generated scene graphs (DiffuseSG metrics, relation consistency)")
    sg.add_argument("file", type=Path, help="generated scene graphs: graphgen scene-graph JSON (.json / .json.gz)")
    sg.add_argument("--dataset", required=True, choices=SCENE_GRAPH_DATASETS, help="reference dataset")
    sg.add_argument("--split", default="test", choices=["val", "test"],
                    help="reference split (default test); triplet novelty is always against the train split")
    sg.add_argument("--data-dir", default=None, help="data root (default: $GRAPHGEN_DATA)")
    sg.add_argument("--json", type=Path, default=None, help="write the scores to this JSON file")

    lg = sub.add_parser("lanes", help="score generated lane graphs (SLEDGE's lane metrics, geometric plausibility)")
    lg.add_argument("file", type=Path, help="generated lane graphs: graphgen lane-graph JSON (.json / .json.gz)")
    lg.add_argument("--dataset", required=True, choices=LANE_GRAPH_DATASETS, help="reference dataset")
    lg.add_argument("--split", default="test", choices=["val", "test"], help="reference split (default test)")
    lg.add_argument("--data-dir", default=None, help="data root (default: $GRAPHGEN_DATA)")
    lg.add_argument("--json", type=Path, default=None, help="write the scores to this JSON file")


def _add_progress_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true",
                        help="hide the progress bars of the long steps (reference statistics, per-graph statistics)")


def _add_split_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split-file", type=Path, default=None,
                        help="data-file --dataset only: the run folder's split.json (the split the model trained on)")
    parser.add_argument("--split-seed", type=int, default=0,
                        help="data-file --dataset only: seed the training split was drawn with (default 0)")


def _is_registered(name: str) -> bool:
    from graphgen.data.registry import DATASETS

    return name in DATASETS


def _file_splits(args: argparse.Namespace) -> tuple:
    """(train, test) :class:`~graphgen.data.datasets.user.UserDataset` of a data-file ``--dataset``."""
    from graphgen.data.registry import load_dataset

    train = load_dataset(args.dataset, "train", seed=args.split_seed, split_file=args.split_file)
    test = load_dataset(args.dataset, "test", seed=args.split_seed, split_file=args.split_file)
    print(f"{args.dataset}: {len(train)} train / {len(test)} test graphs, split {train.split_origin}")
    return train, test


def check_output_file(path: Path, flag: str) -> None:
    """Refuse an output path that cannot be written, before any work starts: it is not a folder, and its nearest
    existing ancestor is a writable folder (so the missing folders can be created). ``flag`` names the option."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a folder, expected a file name; name a file inside it")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:  # the first folder that exists is the one to write
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"{flag} {path}: {ancestor} is a file, not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: folder {ancestor} is not writable; choose another path")


def check_input_file(path: Path, what: str) -> None:
    """Refuse an input path that is not a file, naming it (a one-line error instead of a traceback)."""
    if not Path(path).is_file():
        state = "is a folder" if Path(path).is_dir() else "does not exist"
        raise InputError(f"{path}: {state}; expected {what}")


def run(args: argparse.Namespace) -> int:
    check_input_file(args.file, f"a file of generated {args.kind}")
    if args.json is not None:
        check_output_file(args.json, "--json")
    if args.kind == "molecules":
        scores = _run_molecules(args)
    elif args.kind == "scene-graphs":
        scores = _run_scene_graphs(args)
    elif args.kind == "lanes":
        scores = _run_lane_graphs(args)
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


def read_sdf_file(path: Path) -> list:
    """The molecules of an SD file, one RDKit ``Mol`` per record (``None`` for a record RDKit cannot read, which the
    evaluators count as an invalid molecule)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")  # a bad record is counted as invalid; RDKit's own log would repeat it per record
    try:
        return list(Chem.SDMolSupplier(str(path)))
    finally:
        RDLogger.EnableLog("rdApp.*")


def read_molecules_file(path: Path) -> tuple[list, int]:
    """Generated molecules of ``path`` chosen by its extension (:data:`MOLECULE_FORMATS`) and the number of blank
    lines skipped (SMILES files only); an unknown extension is an :class:`InputError` naming the accepted ones."""
    suffix = path.suffix.lower()
    if suffix not in MOLECULE_FORMATS:
        accepted = ", ".join(f"{k} ({v})" for k, v in MOLECULE_FORMATS.items())
        raise InputError(f"{path}: unknown molecule file extension {suffix or '(none)'!r}; accepted: {accepted}")
    if suffix == ".sdf":
        molecules = read_sdf_file(path)
        if not molecules:
            raise InputError(f"{path}: no molecule records found (expected an SD file with '$$$$' separators)")
        return molecules, 0
    smiles, blank = read_smiles_file(path)
    if not smiles:
        raise InputError(f"{path}: no SMILES found (expected one SMILES per line)")
    return smiles, blank


def _check_molecule_dataset(name: str) -> None:
    """``--dataset`` of ``evaluate molecules`` is a registered dataset with SMILES or an existing data file."""
    from graphgen.data.registry import DATASETS

    graph_datasets = set(GRAPH_DATASETS) | set(SCENE_GRAPH_DATASETS) | set(LANE_GRAPH_DATASETS)
    if name in HETERO_DATASETS:
        raise InputError(f"--dataset {name}: a heterogeneous graph for DiffGraph, not molecules (molecule datasets: "
                         "qm9, zinc250k, moses); its metrics come with graphgen train / bench diffgraph")
    graph_datasets |= set(HETERO_DATASETS)
    if name in graph_datasets:
        raise InputError(f"--dataset {name}: holds graphs without SMILES; use `graphgen evaluate graphs` or a "
                         "molecule dataset (qm9, zinc250k, moses)")
    if name not in DATASETS and not Path(name).is_file():
        molecule_datasets = sorted(n for n in DATASETS if n not in graph_datasets)
        raise InputError(f"--dataset {name}: not a registered dataset and no such file; use one of "
                         f"{', '.join(molecule_datasets)} or the SMILES / CSV file the model was trained on")


def _run_molecules(args: argparse.Namespace) -> dict[str, float]:
    from graphgen.evaluate.molecules import evaluate_molecules  # imported lazily: RDKit/FCD are heavy

    _check_molecule_dataset(args.dataset)  # before reading the samples: a wrong name is the cheaper error
    molecules, blank = read_molecules_file(args.file)
    if blank:
        print(f"{args.file}: skipped {blank} blank line(s)")
    train, test = args.dataset, args.dataset
    if not _is_registered(args.dataset):
        train_ds, test_ds = _file_splits(args)
        if train_ds.vocab is None:
            raise InputError(f"--dataset {args.dataset}: holds graphs, not molecules; use `graphgen evaluate graphs`")
        train, test = train_ds.smiles, test_ds.smiles
    scores = dict(evaluate_molecules(molecules, train=train, test=test, protocol=args.protocol,
                                     data_dir=args.data_dir, progress=not args.no_progress))
    if args.file.suffix.lower() == ".smi":  # an SD file has records, not lines: nothing is skipped there
        scores["blank_lines_skipped"] = float(blank)
    return scores


def _load_split(name: str, split: str, data_dir: str | None) -> list:
    from graphgen.data.registry import load_dataset

    return list(load_dataset(name, split, data_dir=data_dir))


def _run_graphs(args: argparse.Namespace) -> dict[str, float]:
    from graphgen.evaluate.graphs import evaluate_graphs, read_graphs

    file_splits = None  # a data file's train / test UserDataset
    if args.dataset in GRAPH_DATASETS:
        protocol_default, validity_default = GRAPH_DATASETS[args.dataset]
    elif _is_registered(args.dataset):
        raise InputError(f"--dataset {args.dataset}: a molecule dataset; use `graphgen evaluate molecules`, or one of "
                         f"the graph datasets {', '.join(sorted(GRAPH_DATASETS))}")
    elif not Path(args.dataset).is_file():
        raise InputError(f"--dataset {args.dataset}: not a graph dataset and no such file; use one of "
                         f"{', '.join(sorted(GRAPH_DATASETS))} or the graph file the model was trained on")
    else:
        file_splits = dict(zip(("train", "test"), _file_splits(args)))
        if file_splits["train"].vocab is not None:
            raise InputError(f"--dataset {args.dataset}: holds molecules; use `graphgen evaluate molecules`")
        protocol_default, validity_default = "gdss", None

    def split_graphs(split: str) -> list:
        if file_splits is not None:
            return list(file_splits[split])
        return _load_split(args.dataset, split, args.data_dir)

    protocol = args.protocol or protocol_default
    validity = validity_default if args.validity is None else (None if args.validity == "none" else args.validity)
    for flag, path in (("--reference", args.reference), ("--train", args.train)):
        if path is not None:
            check_input_file(path, f"a graph file for {flag}")
    generated = read_graphs(args.file)
    if not generated:
        raise InputError(f"{args.file}: no graphs found")
    reference = read_graphs(args.reference) if args.reference else split_graphs("test")
    train = read_graphs(args.train) if args.train else split_graphs("train")
    print(f"{args.dataset} ({protocol}): {len(generated)} generated, {len(reference)} reference, {len(train)} train")
    return evaluate_graphs(generated, reference, protocol, train=train, validity=validity,
                           num_workers=args.workers, progress=not args.no_progress)


def _read_generated(read: Callable[[Path], list], path: Path, what: str) -> list:
    """The generated graphs ``read(path)`` returns (``read_scene_graphs`` or ``read_lane_graphs``). A file the reader
    refuses stops the command with the reader's message (it names file, graph, field and value), and so does a file
    without graphs."""
    try:
        generated = read(path)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(str(exc)) from None
    if not generated:
        raise SystemExit(f"{path}: no {what} found")
    return generated


def _run_scene_graphs(args: argparse.Namespace) -> dict[str, float]:
    from graphgen.data.scene_graphs import read_scene_graphs
    from graphgen.evaluate.scene_graphs import evaluate_scene_graphs

    generated = _read_generated(read_scene_graphs, args.file, "scene graphs")
    reference = _load_split(args.dataset, args.split, args.data_dir)
    train = _load_split(args.dataset, "train", args.data_dir)
    print(f"{args.dataset}: {len(generated)} generated, {len(reference)} reference ({args.split}), {len(train)} train")
    return evaluate_scene_graphs(generated, reference, train)


def _run_lane_graphs(args: argparse.Namespace) -> dict[str, float]:
    from graphgen.data.lane_graphs import read_lane_graphs
    from graphgen.evaluate.lane_graphs import evaluate_lane_graphs

    generated = _read_generated(read_lane_graphs, args.file, "lane graphs")
    reference = _load_split(args.dataset, args.split, args.data_dir)
    print(f"{args.dataset}: {len(generated)} generated, {len(reference)} reference ({args.split})")
    return evaluate_lane_graphs(generated, reference)


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
