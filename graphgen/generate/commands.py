"""``graphgen sample MODEL``: sample graphs from a bundled model (``graphgen.hub``) or a saved generator folder.

Molecule models write SMILES (``--format smi``, one per line) or an SDF file (``--format sdf``), optionally a PNG grid
of the first molecules (``--draw FILE``), and print a summary: GDSS validity without correction, validity after the
GDSS valency correction, uniqueness, network evaluations per graph and molecules per second; plus novelty, FCD and
NSPDK (``graphgen.evaluate.evaluate_molecules``, GDSS protocol) when the model's dataset is found (``GRAPHGEN_DATA``
or ``--data-dir``). Written molecules are the GDSS-corrected largest fragments of the graphs that yield one.
Plain-graph models write JSON edge lists (``graphgen.evaluate.graphs.write_graphs_json``). Scene-graph models
(``coco-sg``) write the scene-graph JSON of :mod:`graphgen.data.scene_graphs` (classes, boxes, relation triplets)
and draw a grid of layouts with ``--draw FILE``; lane-graph models write the lane-graph JSON of
:mod:`graphgen.data.lane_graphs` and draw the scenes. Both print their family's metrics against the model's dataset
(test split) when it is found, else the one metric that needs no reference (relation-geometry consistency,
successor-rule agreement). ``--complete partial.json`` fixes the objects and relations of a partial scene graph
and generates the rest (:func:`graphgen.data.scene_graphs.read_partial_scene_graph`).

Sampler settings reach ``Generator.sample`` as options: ``--steps`` (``steps``), ``--sampler`` (``sampler``) and
``--set key=value`` (any other option of the model, e.g. ``--set snr=0.1 --set corrector=none`` for GDSS; values are
YAML scalars). An option the model does not take is an error naming the ones it does.

Example: ``graphgen sample qm9 -n 1000 -o samples.smi --draw grid.png``;
``graphgen sample qm9-gdss -n 100 --steps 200 --sampler s4 --set snr=0.1``;
``graphgen sample coco-sg -n 64 -o sg.json --draw layouts.png``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from graphgen.errors import InputError

# output file extension -> format written (``graphgen evaluate molecules`` reads .smi and .sdf back)
OUTPUT_FORMATS: dict[str, str] = {".smi": "smi", ".sdf": "sdf", ".json": "json"}


def bundled_models_text() -> str:
    """The names of the bundled models, for ``--help`` (:mod:`graphgen.hub` imports no torch, so help stays fast)."""
    from graphgen.hub import MODELS

    return ", ".join(sorted(MODELS))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", nargs="?", default=None,
                        help=f"bundled model name ({bundled_models_text()}) or a folder written by "
                             "save_pretrained()")
    parser.add_argument("--model", dest="model_option", default=None, metavar="NAME_OR_PATH",
                        help="the same as the positional MODEL (either form works)")
    parser.add_argument("-n", "--num-samples", type=int, default=1000, help="number of graphs to sample")
    parser.add_argument("-o", "--output", default=None,
                        help="output file; its extension chooses the format: .smi or .sdf for molecules, .json for "
                             "graphs (default samples.smi / samples.json); checked before sampling starts")
    parser.add_argument("--format", choices=("smi", "sdf", "json"), default=None,
                        help="smi or sdf for molecules, json for graphs (default: from the -o extension; must agree "
                             "with it)")
    parser.add_argument("--draw", default=None, metavar="FILE",
                        help="PNG grid of the first molecules (molecule models) or scene-graph layouts")
    parser.add_argument("--draw-count", type=int, default=None,
                        help="molecules (default 24) or layouts (default 16) in the --draw grid")
    parser.add_argument("--complete", default=None, metavar="FILE",
                        help="scene-graph models: a JSON file with one partial scene graph whose objects and "
                             "relations every sample keeps (a null category or box is generated)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the torch.Generator used for sampling")
    parser.add_argument("--batch-size", type=int, default=500, help="graphs sampled together")
    parser.add_argument("--steps", type=int, default=None,
                        help="denoising steps (GDSS: reverse-SDE steps; PARD: steps per block, 1..T; hetero: EDM "
                             "steps; default: the model's config)")
    parser.add_argument("--sampler", default=None,
                        help="sampler name (GDSS: pc, em, s4, ode, ode_euler or ode_dpm2; hetero: heun or euler; "
                             "default: the model's config)")
    parser.add_argument("--set", dest="options", action="append", default=[], metavar="KEY=VALUE",
                        help="another sampler option of the model (repeatable), e.g. --set snr=0.1")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--data-dir", default=None, help="data root for novelty/FCD/NSPDK (default $GRAPHGEN_DATA)")
    parser.add_argument("--reference", default=None,
                        help="dataset or data file for novelty (its train split) and FCD/NSPDK (its test split); "
                             "default: the model's molecule vocabulary name, e.g. qm9")
    parser.add_argument("--no-metrics", action="store_true", help="skip novelty/FCD/NSPDK even if the data is found")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def sample_options(args: argparse.Namespace) -> dict:
    """The sampler options of ``--steps``, ``--sampler`` and every ``--set KEY=VALUE`` (a YAML scalar)."""
    from graphgen.train.config import ConfigError, parse_override

    options = {}
    if args.steps is not None:
        options["steps"] = args.steps
    if args.sampler is not None:
        options["sampler"] = args.sampler
    for item in args.options:
        try:
            path, value = parse_override(item)
        except ConfigError as err:
            raise SystemExit(f"graphgen sample: {err}") from None
        key = ".".join(path)
        if len(path) != 1:
            raise SystemExit(f"graphgen sample: --set {item!r}: sampler options are plain names, e.g. snr=0.1")
        if key in options:
            raise SystemExit(f"graphgen sample: option {key!r} given twice (--set {item!r})")
        options[key] = value
    return options


def _output_format(args: argparse.Namespace, molecules: bool, structured: bool = False) -> tuple[str, Path]:
    """The format and path of ``-o`` / ``--format``: the extension chooses the format (an unknown one, or one that
    disagrees with ``--format``, is an :class:`InputError` naming the file and the accepted extensions)."""
    fmt = args.format
    if args.output:
        suffix = Path(args.output).suffix.lower()
        if suffix not in OUTPUT_FORMATS:
            raise InputError(f"-o {args.output}: unknown extension {suffix or '(none)'!r}; accepted: "
                             f"{', '.join(OUTPUT_FORMATS)} (.smi / .sdf for molecules, .json for graphs)")
        if fmt is not None and fmt != OUTPUT_FORMATS[suffix]:
            raise InputError(f"-o {args.output} is a {suffix} file but --format is {fmt}; drop --format or change "
                             "the extension")
        fmt = OUTPUT_FORMATS[suffix]
    if structured and fmt not in (None, "json"):
        raise InputError("scene-graph and lane-graph models write --format json (-o FILE.json)")
    fmt = fmt or ("smi" if molecules else "json")
    if molecules and fmt == "json":
        raise InputError("molecule models write --format smi or sdf (-o FILE.smi or FILE.sdf)")
    if not molecules and fmt in ("smi", "sdf"):
        raise InputError("this model generates plain graphs; use --format json (-o FILE.json)")
    return fmt, Path(args.output or f"samples.{fmt}")


def write_molecules(smiles: list[str], path: Path, fmt: str) -> None:
    """Write SMILES (one per line) or an SDF file (2D coordinates, the SMILES as the molecule name)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "smi":
        path.write_text("".join(s + "\n" for s in smiles))
        return
    from rdkit import Chem
    from rdkit.Chem import AllChem

    writer = Chem.SDWriter(str(path))
    try:
        for s in smiles:
            mol = Chem.MolFromSmiles(s)
            AllChem.Compute2DCoords(mol)
            mol.SetProp("_Name", s)
            writer.write(mol)
    finally:
        writer.close()


def draw_grid(smiles: list[str], path: Path, count: int) -> int:
    """PNG grid of the first ``count`` molecules (RDKit ``Draw.MolsToGridImage``); returns how many were drawn."""
    from rdkit import Chem
    from rdkit.Chem import Draw

    mols = [Chem.MolFromSmiles(s) for s in smiles[:count]]
    if not mols:
        raise SystemExit("graphgen sample: --draw needs at least one valid molecule")
    img = Draw.MolsToGridImage(mols, molsPerRow=min(6, len(mols)), subImgSize=(200, 200), legends=smiles[:count])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(str(path))
    return len(mols)


def _reference_metrics(graphs, vocab, reference: str, data_dir: str | None, progress: bool) -> dict[str, float]:
    """Novelty/FCD/NSPDK against ``reference``; raises ``FileNotFoundError`` when its raw files are absent."""
    from graphgen.data.registry import load_dataset
    from graphgen.evaluate.molecules import evaluate_molecules

    load_dataset(reference, "test", data_dir=data_dir)  # fails fast (MissingRawFileError) without the data
    return evaluate_molecules(graphs, train=reference, test=reference, protocol="gdss", vocab=vocab,
                              progress=progress, data_dir=data_dir)


def run(args: argparse.Namespace) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.num_samples < 1:
        raise SystemExit("graphgen sample: -n must be >= 1")
    if args.model and args.model_option and args.model != args.model_option:
        raise SystemExit(f"graphgen sample: two models given ({args.model!r} and --model {args.model_option!r})")
    name = args.model or args.model_option
    if not name:
        raise SystemExit("graphgen sample: name a model, e.g. `graphgen sample qm9` or `--model runs/sde_qm9/ema`")
    from graphgen.errors import GraphgenError
    from graphgen.generate import load_generator
    from graphgen.generate.base import SampleOptionError, SampleStats

    options = sample_options(args)
    try:
        model = load_generator(name)
    except (FileNotFoundError, GraphgenError) as err:  # no such model, or a damaged / inconsistent model folder
        raise SystemExit(f"graphgen sample: {err}") from None
    vocab_name = getattr(model.config, "vocab", None)
    kind = getattr(model.config, "kind", None)
    scene_graphs = kind == "scene_graph"
    fmt, out_path = _output_format(args, molecules=vocab_name is not None, structured=kind in STRUCTURED)
    from graphgen.evaluate.commands import check_output_file

    check_output_file(out_path, "-o")  # before sampling: a bad path must not cost the sampling run
    if args.draw:
        check_output_file(Path(args.draw), "--draw")
    out_path.parent.mkdir(parents=True, exist_ok=True)  # every writer then finds its folder
    if args.complete and not scene_graphs:
        raise SystemExit("graphgen sample: --complete is for scene-graph models (e.g. coco-sg)")
    if args.complete:
        from graphgen.data.scene_graphs import read_partial_scene_graph

        try:
            options["complete"] = read_partial_scene_graph(args.complete)
        except (FileNotFoundError, ValueError) as err:
            raise SystemExit(f"graphgen sample: --complete: {err}") from None

    stats = SampleStats()
    start = time.perf_counter()
    try:
        graphs = model.sample(args.num_samples, generator=torch.Generator().manual_seed(args.seed),
                              batch_size=args.batch_size, progress=not args.no_progress, callback=stats, **options)
    except SampleOptionError as err:  # raised before any sampling
        raise SystemExit(f"graphgen sample: {err}") from None
    seconds = time.perf_counter() - start
    n = len(graphs)
    rows: list[tuple[str, str]] = [("samples", str(n)), ("seconds", f"{seconds:.1f}"),
                                   ("graphs / second", f"{n / seconds:.3g}"),
                                   ("network evaluations / graph", f"{stats.evaluations_per_graph:.1f}")]

    if kind in STRUCTURED:
        rows += _structured_outputs(kind, graphs, model, args, out_path)
        _print_summary(rows, out_path)
        return 0
    if vocab_name is None:
        from graphgen.evaluate.graphs import write_graphs_json

        write_graphs_json(graphs, out_path)
        rows.append(("mean nodes", f"{sum(g.num_nodes for g in graphs) / n:.1f}"))
        _print_summary(rows, out_path)
        return 0

    from graphgen.data.molecules import resolve_vocab
    from graphgen.evaluate.molecules import gdss_outcome
    from graphgen.evaluate.moses import fraction_unique

    vocab = resolve_vocab(vocab_name)
    outcomes = [gdss_outcome(g, vocab) for g in graphs]
    smiles = [o.smiles for o in outcomes if o.smiles is not None]
    write_molecules(smiles, out_path, fmt)
    rows += [
        ("validity w/o correction", f"{sum(o.valid_wo_correction for o in outcomes) / n:.2%}"),
        ("validity (after valency correction)", f"{len(smiles) / n:.2%}"),
        ("uniqueness", f"{fraction_unique(smiles):.2%}" if smiles else "n/a"),
        ("molecules written", str(len(smiles))),
    ]
    if args.draw:
        drawn = draw_grid(smiles, Path(args.draw), args.draw_count or 24)
        rows.append(("drawn", f"{drawn} -> {args.draw}"))
    if not args.no_metrics:
        from graphgen.data.registry import DATASETS

        # a vocabulary built from a user's file is a dict: its reference is that file, named with --reference
        reference = args.reference or (vocab_name if isinstance(vocab_name, str) else None)
        if reference is not None and reference not in DATASETS and not Path(reference).is_file():
            raise SystemExit(f"graphgen sample: --reference {reference!r} is neither a dataset ({sorted(DATASETS)}) "
                             "nor a file")
        if reference is None:
            rows.append(("novelty / FCD / NSPDK", "skipped: the model was trained on a file; pass --reference FILE"))
            _print_summary(rows, out_path)
            return 0
        try:
            scores = _reference_metrics(graphs, vocab, reference, args.data_dir, not args.no_progress)
            rows += [("novelty", f"{scores['novelty']:.2%}"), ("FCD", f"{scores['fcd']:.3f}"),
                     ("NSPDK MMD", f"{scores['nspdk_mmd']:.4f}")]
        except FileNotFoundError:  # includes graphgen.data.raw.MissingRawFileError
            rows.append(("novelty / FCD / NSPDK", f"skipped: {reference} data not found in {_data_root(args)}; "
                                                  "set GRAPHGEN_DATA or --data-dir to the folder holding it"))
    _print_summary(rows, out_path)
    return 0


# model kind -> (writer, drawer, evaluator, metrics printed, the metric that needs no reference) of its graphs
STRUCTURED: dict[str, tuple[str, str, str, tuple[str, ...], str]] = {
    "scene_graph": ("graphgen.data.scene_graphs:write_scene_graphs", "graphgen.data.scene_graphs:draw_layouts",
                    "graphgen.evaluate.scene_graphs:evaluate_scene_graphs",
                    ("relation_consistency", "degree_mmd", "node_type_mmd", "edge_type_mmd", "triplet_tv",
                     "triplet_novelty", "box_f1", "overlap", "alignment"),
                    "graphgen.evaluate.scene_graphs:relation_consistency"),
    "lane_graph": ("graphgen.data.lane_graphs:write_lane_graphs", "graphgen.data.lane_graphs:draw_lane_graphs",
                   "graphgen.evaluate.lane_graphs:evaluate_lane_graphs",
                   ("successor_agreement", "route_length", "endpoint_gap", "connectivity_fd", "density_fd",
                    "reach_fd", "convenience_fd", "curvature_mmd", "segment_length_mmd", "overlap_rate"),
                   "graphgen.evaluate.lane_graphs:successor_agreement"),
}


def _function(ref: str):
    import importlib

    module, name = ref.split(":")
    return getattr(importlib.import_module(module), name)


def _structured_outputs(kind: str, graphs: list, model, args: argparse.Namespace,
                        out_path: Path) -> list[tuple[str, str]]:
    """Write scene or lane graphs (and their drawing); summary rows, with the family's metrics against the model's
    dataset (test split) when it is found, else the one metric that needs no reference."""
    writer, drawer, evaluator, keys, own_metric = STRUCTURED[kind]
    _function(writer)(graphs, out_path)
    rows = [("mean nodes", f"{sum(g.num_nodes for g in graphs) / len(graphs):.1f}"),
            ("mean edges", f"{sum(g.edge_index.shape[1] for g in graphs) / len(graphs):.1f}")]
    if args.draw:
        drawn = _function(drawer)(graphs, args.draw, count=args.draw_count or 16)
        rows.append(("drawn", f"{drawn} -> {args.draw}"))
    evaluate = _function(evaluator)
    dataset = model.config.dataset
    scores = None
    if not args.no_metrics and dataset:
        from graphgen.data.registry import DATASETS, load_dataset

        try:
            if dataset in DATASETS:
                test = list(load_dataset(dataset, "test", data_dir=args.data_dir))
                if kind == "scene_graph":  # triplet novelty needs the training graphs
                    train = list(load_dataset(dataset, "train", data_dir=args.data_dir))
                    scores = evaluate(graphs, test, train)
                else:
                    scores = evaluate(graphs, test)
        except FileNotFoundError:
            rows.append(("metrics", f"skipped: {dataset} data not found in {_data_root(args)}; "
                                    "set GRAPHGEN_DATA or --data-dir to the folder holding it"))
    if scores is None:
        scores = {own_metric.rsplit(":", 1)[1]: _function(own_metric)(graphs)}
    else:
        rows.append(("reference", f"{dataset} test split ({len(test)} graphs)"))
    for key in keys:
        if key in scores:
            rows.append((key.replace("_", " "), f"{scores[key]:.4g}"))
    return rows


def _data_root(args: argparse.Namespace) -> Path:
    """The folder the metrics looked for their dataset in (``--data-dir``, else ``$GRAPHGEN_DATA``, else
    ``./datasets``), named when the data is not there."""
    from graphgen.data.raw import data_root

    return data_root(args.data_dir)


def _print_summary(rows: list[tuple[str, str]], out_path: Path) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"wrote {out_path}", file=sys.stderr)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
