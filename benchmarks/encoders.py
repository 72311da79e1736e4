"""Graph encoders: graphgen's GPS / GRIT / MPNN+VN / GT against a model built from PyG's ``GPSConv``, in one run.

Sections (``--sections``, default all):

- ``params``:     parameter count of every recipe preset (``graphgen/train/configs/*.yaml``) next to the ~500k ZINC
                  budget (ratio) and the paper's count where known.
- ``throughput``: training throughput (graphs/s, forward + backward + AdamW step) of graphgen's GPS and of the
                  PyG ``GPSConv`` model with the same recipe (10 x 64, GINE, 4 heads, RWSE-20, BatchNorm), on real
                  ZINC-12k batches of 32 and 128 graphs; peers interleaved (ABAB...), median over ``--reps``.
- ``grit``:       GRIT throughput with full attention (all pairs) vs sparse attention (edges + self loops).
- ``budget``:     ZINC-12k test MAE after ``--minutes`` of CPU training for GPS, GRIT, MPNN+VN, GT and the
                  PyG ``GPSConv`` model (same recipe and budget). Runs checkpoint under ``--runs``; re-running with
                  the same arguments resumes each unfinished run (the budget counts all sessions).
- ``molhiv``:     a short ogbg-molhiv run of the GPS preset (``--molhiv-epochs``, default 10): val / test ROC-AUC.

    nice -n 10 python benchmarks/encoders.py --sections params throughput grit
    nice -n 10 python benchmarks/encoders.py --sections budget --minutes 20      # the full comparison

Ratios from one run are meaningful on a shared machine; absolute times are not (other jobs take cores).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from graphgen.data.transforms import AddRRWP, AddRWSE, apply_many
from graphgen.nn.models import EncoderConfig, GraphEncoder
from graphgen.train.config import CONFIG_DIR
from graphgen.train.encoder import encoder_inputs, load_preset, train

PAPER_PARAMS = {"gt_zinc12k": 588_929}     # REFERENCE.md: GT (Dwivedi & Bresson) ~589k on ZINC


# ------------------------------------------------------------------------------------------------ the PyG peer model
class PyGGPSModel(nn.Module):
    """The GPS recipe built from PyG parts: ``torch_geometric.nn.GPSConv`` wrapping ``GINEConv``, the same input
    embeddings (atom / bond embeddings, RWSE through BatchNorm + Linear, concatenated), sum pooling and the same
    3-layer head. Same forward keywords as :class:`GraphEncoder`, so the same trainer runs it."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        from torch_geometric.nn import GINEConv, GPSConv
        d = cfg.channels
        self.cfg = cfg
        self.atom = nn.Embedding(cfg.num_atom_types, d - cfg.dim_pe)
        self.bond = nn.Embedding(cfg.num_bond_types, d)
        self.pe_norm = nn.BatchNorm1d(cfg.pe_steps)
        self.pe_lin = nn.Linear(cfg.pe_steps, cfg.dim_pe)
        self.layers = nn.ModuleList(
            GPSConv(d, GINEConv(nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))), heads=cfg.heads,
                    dropout=cfg.dropout, attn_type="multihead", attn_kwargs={"dropout": cfg.attn_dropout},
                    norm="batch_norm")
            for _ in range(cfg.num_layers))
        self.head = nn.Sequential(nn.Linear(d, d // 2), nn.ReLU(), nn.Linear(d // 2, d // 4), nn.ReLU(),
                                  nn.Linear(d // 4, cfg.out_channels))

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor, batch: Tensor, *, pe: Tensor,
                pe_val=None, pair_index=None, pair_val=None, generator=None) -> Tensor:
        from torch_geometric.nn import global_add_pool
        h = torch.cat([self.atom(x.view(-1)), self.pe_lin(self.pe_norm(pe))], -1)
        e = self.bond(edge_attr.view(-1))
        for layer in self.layers:
            h = layer(h, edge_index, batch, edge_attr=e)
        return self.head(global_add_pool(h, batch))


# ------------------------------------------------------------------------------------------------------------- data
def zinc_graphs(n: int, transform) -> list:
    from graphgen.data.registry import load_dataset
    ds = load_dataset("zinc12k", "train")
    return apply_many(transform, [ds[i] for i in range(min(n, len(ds)))])


def batches(graphs: list, batch_size: int, count: int) -> list:
    from torch_geometric.data import Batch
    return [Batch.from_data_list(graphs[(i * batch_size) % (len(graphs) - batch_size):][:batch_size])
            for i in range(count)]


def train_steps_per_s(model: nn.Module, opt, data, cfg: EncoderConfig) -> float:
    """Graphs per second of forward + backward + optimizer step over the batches in ``data``."""
    model.train()
    n = 0
    t0 = time.perf_counter()
    for b in data:
        opt.zero_grad(set_to_none=True)
        loss = (model(**encoder_inputs(b, cfg)).view(-1) - b.y.view(-1)).abs().mean()
        loss.backward()
        opt.step()
        n += b.num_graphs
    return n / (time.perf_counter() - t0)


def compare_throughput(peers: dict[str, tuple[nn.Module, EncoderConfig, list]], reps: int) -> dict[str, float]:
    """Interleave the peers ``reps`` times (after one warm-up each); median graphs/s per peer."""
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, (m, _, _) in peers.items()}
    for k, (m, cfg, data) in peers.items():
        train_steps_per_s(m, opts[k], data[:2], cfg)                          # warm-up (numba compile, caches)
    runs: dict[str, list[float]] = {k: [] for k in peers}
    for _ in range(reps):
        for k, (m, cfg, data) in peers.items():
            runs[k].append(train_steps_per_s(m, opts[k], data, cfg))
    return {k: statistics.median(v) for k, v in runs.items()}


# --------------------------------------------------------------------------------------------------------- sections
def section_params() -> None:
    print("\n## Parameter count of each recipe preset (ZINC budget ~500k, +-10%)")
    print(f"| preset | params | / 500k | paper |")
    print("|---|---|---|---|")
    for path in sorted(CONFIG_DIR.glob("*.yaml")):
        model, dataset = path.stem.split("_", 1) if not path.stem.startswith("mpnn_vn") else \
            ("mpnn_vn", path.stem[len("mpnn_vn_"):])
        cfg = load_preset(model, dataset.replace("ogbg_molhiv", "ogbg-molhiv"))
        n = GraphEncoder.from_config(cfg.model).num_parameters()
        paper = PAPER_PARAMS.get(path.stem)
        ratio = f"{n / 500_000:.3f}" if dataset == "zinc12k" else "-"
        print(f"| {path.stem} | {n:,} | {ratio} | {f'{paper:,}' if paper else '-'} |")
    cfg = load_preset("gps", "zinc12k").model
    print(f"| PyG GPSConv model, gps_zinc12k recipe | {sum(p.numel() for p in PyGGPSModel(cfg).parameters()):,} "
          f"| - | - |")


def section_throughput(reps: int, num_batches: int) -> None:
    cfg = load_preset("gps", "zinc12k").model
    graphs = zinc_graphs(2048, AddRWSE(cfg.pe_steps))
    print("\n## Training throughput, GPS ZINC recipe (graphs/s, forward + backward + AdamW step; median of "
          f"{reps} interleaved reps of {num_batches} batches)")
    print("| batch | graphgen GPSLayer | PyG GPSConv | graphgen / PyG |")
    print("|---|---|---|---|")
    for bs in (32, 128):
        torch.manual_seed(0)
        data = batches(graphs, bs, num_batches)
        peers = {"graphgen": (GraphEncoder.from_config(cfg), cfg, data), "pyg": (PyGGPSModel(cfg), cfg, data)}
        res = compare_throughput(peers, reps)
        print(f"| {bs} | {res['graphgen']:.1f} | {res['pyg']:.1f} | {res['graphgen'] / res['pyg']:.2f}x |",
              flush=True)


def section_grit(reps: int, num_batches: int) -> None:
    cfg = load_preset("grit", "zinc12k").model
    print("\n## GRIT ZINC recipe: full attention (all pairs) vs sparse (edges + self loops), graphs/s, "
          "forward + backward + AdamW step")
    print("| batch | full | sparse | sparse / full | pairs per graph full / sparse |")
    print("|---|---|---|---|---|")
    full_graphs = zinc_graphs(1024, AddRRWP(cfg.pe_steps, full=True))
    sparse_graphs = zinc_graphs(1024, AddRRWP(cfg.pe_steps, full=False))
    for bs in (32, 128):
        torch.manual_seed(0)
        full, sparse = batches(full_graphs, bs, num_batches), batches(sparse_graphs, bs, num_batches)
        model = GraphEncoder.from_config(cfg)
        peers = {"full": (model, cfg, full), "sparse": (model, cfg, sparse)}
        res = compare_throughput(peers, reps)
        pf = sum(b.rrwp_index.size(1) for b in full) / sum(b.num_graphs for b in full)
        ps = sum(b.rrwp_index.size(1) for b in sparse) / sum(b.num_graphs for b in sparse)
        print(f"| {bs} | {res['full']:.1f} | {res['sparse']:.1f} | {res['sparse'] / res['full']:.2f}x | "
              f"{pf:.0f} / {ps:.0f} |", flush=True)


def section_budget(minutes: float, runs: Path, models: list[str], threads: int | None, warmup: int) -> None:
    print(f"\n## ZINC-12k test MAE after a {minutes:g}-minute CPU training budget (model selected on val; "
          f"paper recipes with warm-up {warmup} epochs; budget-limited, so far from converged)")
    rows = []
    for name in models:
        base = "gps" if name == "pyg_gps" else name
        cfg = load_preset(base, "zinc12k")
        cfg.trainer.minutes, cfg.trainer.threads = minutes, threads
        cfg.trainer.progress = sys.stderr.isatty()
        # a short budget never leaves a 50-epoch warm-up (lr would stay ~1e-3/50): run at the base lr instead
        cfg.trainer.warmup_epochs = warmup
        out = runs / f"{name}_zinc12k_{minutes:g}min"
        resume = (out / "last" / "trainer_state.json").is_file()
        if resume and (out / "result.json").is_file():
            done = json.loads((out / "result.json").read_text())
            if done.get("stopped_by_budget") or done.get("epochs_run", 0) >= cfg.trainer.epochs:
                rows.append(done)
                continue
        model = PyGGPSModel(cfg.model) if name == "pyg_gps" else None
        summary = train(cfg, out=out, resume=resume, results_csv=str(runs / "results.csv"), model=model, label=name)
        rows.append(summary)
    print("| model | params | epochs | minutes | best val MAE | test MAE at best val |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['params']:,} | {r['epochs_run']} | {r['elapsed_min']} | "
              f"{r['best_val_mae']:.4f} | {r['test_mae_at_best_val']:.4f} |")
    by = {r["model"]: r["test_mae_at_best_val"] for r in rows}
    if "gps" in by and "pyg_gps" in by:
        print(f"graphgen GPS / PyG GPSConv test MAE: {by['gps'] / by['pyg_gps']:.3f} (< 1 = graphgen better)")


def section_molhiv(epochs: int, train_graphs: int | None, runs: Path, threads: int | None) -> None:
    cfg = load_preset("gps", "ogbg-molhiv")
    cfg.trainer.epochs, cfg.max_train_graphs, cfg.trainer.threads = epochs, train_graphs, threads
    cfg.trainer.warmup_epochs = min(cfg.trainer.warmup_epochs, max(epochs // 10, 1))
    cfg.trainer.progress = sys.stderr.isatty()
    out = runs / f"gps_molhiv_{epochs}ep_{train_graphs or 'all'}"
    resume = (out / "last" / "trainer_state.json").is_file()
    r = train(cfg, out=out, resume=resume, results_csv=str(runs / "results.csv"))
    print(f"\n## ogbg-molhiv, GPS preset, {r['epochs_run']} epochs"
          f"{f' on the first {train_graphs} training graphs' if train_graphs else ''} (recomputed scaffold split)")
    print("| model | params | epochs | minutes | best val ROC-AUC | test ROC-AUC at best val |")
    print("|---|---|---|---|---|---|")
    print(f"| gps | {r['params']:,} | {r['epochs_run']} | {r['elapsed_min']} | {r['best_val_rocauc']:.4f} | "
          f"{r['test_rocauc_at_best_val']:.4f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sections", nargs="+", default=["params", "throughput", "grit", "budget", "molhiv"],
                   choices=["params", "throughput", "grit", "budget", "molhiv"])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--batches", type=int, default=8, help="batches per throughput measurement")
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--budget-warmup-epochs", type=int, default=0,
                   help="warm-up epochs of the budget runs (the recipes' 50 do not fit a short budget)")
    p.add_argument("--models", nargs="+", default=["gps", "pyg_gps", "grit", "mpnn_vn", "gt"])
    p.add_argument("--molhiv-epochs", type=int, default=10)
    p.add_argument("--molhiv-train-graphs", type=int, default=None,
                   help="train on the first n molhiv training graphs (short runs; printed in the table)")
    p.add_argument("--runs", default="runs/encoders/bench", help="checkpoint folder (resumable)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    os.environ.setdefault("GRAPHGEN_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    print(f"# graphgen encoders benchmark  (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    runs = Path(args.runs)
    if "params" in args.sections:
        section_params()
    if "throughput" in args.sections:
        section_throughput(args.reps, args.batches)
    if "grit" in args.sections:
        section_grit(args.reps, args.batches)
    if "budget" in args.sections:
        section_budget(args.minutes, runs, args.models, args.threads, args.budget_warmup_epochs)
    if "molhiv" in args.sections:
        section_molhiv(args.molhiv_epochs, args.molhiv_train_graphs, runs, args.threads)


if __name__ == "__main__":
    main()
