"""``graphgen train diffgraph --dataset retail_rocket|aminer``: train DiffGraph (or its ablation / LightGCN) through the
shared trainer, select the epoch on validation, report test at that epoch.

Presets: ``graphgen/train/configs/diffgraph_<dataset>.yaml`` (the released hyper-parameters) for ``--variant
diffgraph`` and ``no_diffusion``; ``lightgcn_<dataset>.yaml`` for ``--variant lightgcn``. ``--set model.dim=32`` /
``--set trainer.epochs=50`` change them.

Protocols (:mod:`graphgen.data.datasets.hetero` holds the splits):

* ``retail_rocket``: the model fits the training purchases minus one validation purchase per user (the latest, for
  users with two or more); views and carts are auxiliary relations. Every epoch ranks all items for the validation
  pairs (fitted purchases excluded; their views and carts are held out too, as the files hold none for the test
  pairs): Recall@K and NDCG@K (:func:`graphgen.evaluate.recommendation.rank_metrics`).
  Selection: validation Recall@K. Where validation improves, the test pairs are ranked too, with every training
  purchase excluded (as the released code) and propagated over: the validation purchases and their views and carts
  are known interactions at test time, so the graphs of the test pass hold them (the weights are not refitted).
* ``aminer``: papers with identity features; the target relation is the P-A-P meta-path, the auxiliary ones P-R-P
  and HeCo's positive pairs (as the released code); ``label_rate`` labelled papers per class (20 / 40 / 60) train a
  linear classifier. Every epoch scores the validation papers, and the test papers where validation improves: Micro-F1,
  Macro-F1, AUC
  (:func:`graphgen.evaluate.node_classification.classification_metrics`). Selection: validation Micro-F1 (the
  released code reports the best test value of each metric over the epochs, each at its own epoch).

``protocol: released`` (``--set protocol=released``) reproduces the released code's protocol instead, for comparison
with the published numbers only: all training purchases are fitted and the epoch is chosen on the test pairs
(AMiner: on the test papers). Its test figures are selected on the test split and are not an honest estimate.

The run folder is the shared layout (:mod:`graphgen.train.checkpoint`): ``best/`` holds the selected weights
(``DiffGraph.from_pretrained(run / "best")``), ``result.json`` the summary.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphgen.generate.diffgraph.model import VARIANTS, DiffGraph, DiffGraphConfig, NormalizedGraph
from graphgen.train.config import ConfigError
from graphgen.train.trainer import TrainerConfig

DATASETS = ("retail_rocket", "aminer")
LABEL_RATES = (20, 40, 60)
PROTOCOLS = ("graphgen", "released")
# rejection rounds for negative items before giving up (a user who bought nearly every item would loop forever)
MAX_NEGATIVE_ROUNDS = 100


@dataclass
class DiffGraphRunConfig:
    """A DiffGraph training run: dataset, protocol settings, the model's config, the trainer's."""

    dataset: str = "retail_rocket"
    label_rate: int = 40              # aminer: labelled papers per class (20 / 40 / 60)
    top_k: int = 20                   # retail_rocket: the K of Recall@K / NDCG@K
    eval_batch_size: int = 1024       # users per ranking batch
    # graphgen: select on the validation split carved from training; released: the released code's protocol, for
    # reproducing its numbers only (retail_rocket fits every training purchase and "validates" on the test pairs;
    # aminer selects on the test papers), i.e. selection on the test split
    protocol: str = "graphgen"
    model: DiffGraphConfig = field(default_factory=DiffGraphConfig)
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(
        epochs=100, batch_size=2048, optimizer="adam", lr=1e-3, ema=None, grad_clip=None, evaluate_every="epoch",
        select=True, checkpoint_minutes=5.0))


# ----------------------------------------------------------------------------------------------------------------------
# the task: graphs, training items, evaluation
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class RecommendationTask:
    """Retail Rocket as tensors: relation graphs on users + items, fitted / validation / test purchases."""

    graphs: dict[str, NormalizedGraph]
    num_users: int
    num_items: int
    test_graphs: dict[str, NormalizedGraph]   # the graphs with every known purchase (fitted and validation)
    fit: Tensor          # [2, E] fitted purchases (user, item)
    val: Tensor          # [2, V]
    test: Tensor         # [2, T]
    bought_keys: Tensor  # sorted user * num_items + item of the fitted purchases (negatives avoid them)

    @staticmethod
    def from_data(data, target: str, auxiliary: list[str], protocol: str = "graphgen") -> "RecommendationTask":
        num_users, num_items = int(data["user"].num_nodes), int(data["item"].num_nodes)
        relations = {b: data["user", b, "item"].edge_index for b in data.behaviours}
        unknown = [r for r in [target, *auxiliary] if r not in relations]
        if unknown:
            raise ConfigError(f"relations {unknown} are not in the dataset; it has {sorted(relations)}")
        graphs = {name: NormalizedGraph.bipartite(relations[name], num_users, num_items)
                  for name in dict.fromkeys([target, *auxiliary])}
        store = data["user", target, "item"]
        fit, val = relations[target].long(), store.val_pairs.long()
        relations = {name: edges.long() for name, edges in relations.items()}
        # at test time the validation purchases and their views / carts are known interactions: propagation runs
        # over all of them
        def known(name: str) -> Tensor:
            held = val if name == target else getattr(data["user", name, "item"], "val_edge_index", None)
            return relations[name] if held is None else torch.cat([relations[name], held.long()], dim=1)

        test_graphs = {name: NormalizedGraph.bipartite(known(name), num_users, num_items) for name in graphs}
        if protocol == "released":   # every training purchase is fitted; the test pairs stand in for validation
            fit, val = torch.cat([fit, val], dim=1), store.test_pairs.long()
            graphs = test_graphs
        keys = torch.sort(fit[0] * num_items + fit[1]).values
        return RecommendationTask(graphs=graphs, test_graphs=test_graphs, num_users=num_users, num_items=num_items,
                                  fit=fit, val=val, test=store.test_pairs.long(), bought_keys=keys)

    def train_items(self):
        from graphgen.train.trainer import TensorTuple

        return TensorTuple(self.fit[0], self.fit[1])

    def negatives(self, users: Tensor, generator: torch.Generator) -> Tensor:
        """One uniform item per user that the user has not bought (redrawn until none collides)."""
        items = torch.randint(0, self.num_items, users.shape, generator=generator)
        for _ in range(MAX_NEGATIVE_ROUNDS):
            clash = torch.isin(users * self.num_items + items, self.bought_keys)
            if not bool(clash.any()):
                return items
            items[clash] = torch.randint(0, self.num_items, (int(clash.sum()),), generator=generator)
        raise ConfigError(f"could not draw negative items in {MAX_NEGATIVE_ROUNDS} rounds: some user bought almost "
                          "every item")

    def batch(self, raw: tuple[Tensor, ...], generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        users, items = raw[0].long(), raw[1].long()
        return users, items, self.negatives(users, generator)

    def evaluate(self, model: DiffGraph, k: int, batch_size: int, *,
                 splits: tuple[str, ...] = ("val", "test")) -> dict[str, float]:
        """Metrics of ``splits``: validation (graphs of the fitted purchases; those excluded from the ranking, and
        ``score``), test (graphs and exclusions of every training purchase)."""
        from graphgen.evaluate.recommendation import rank_metrics

        def scores(graphs, heldout: Tensor, known: Tensor, split: str) -> dict[str, float]:
            final = model.embeddings(graphs)
            users, items = final[:self.num_users], final[self.num_users:]
            got = rank_metrics(users, items, heldout, known, k=k, batch_size=batch_size)
            return {f"{split}_{name}": float(v) for name, v in got.items() if name != "num_users"}

        out = {}
        if "val" in splits:
            out.update(scores(self.graphs, self.val, self.fit, "val"))
            out["score"] = -out[f"val_recall@{k}"]
        if "test" in splits:
            known = self.fit if self.val is self.test else torch.cat([self.fit, self.val], dim=1)
            out.update(scores(self.test_graphs, self.test, known, "test"))
        return out


@dataclass
class NodeClassificationTask:
    """AMiner as tensors: meta-path graphs on papers, labels, one label rate's train / val / test papers."""

    graphs: dict[str, NormalizedGraph]
    labels: Tensor
    train: Tensor
    val: Tensor
    test: Tensor

    @staticmethod
    def from_data(data, target: str, auxiliary: list[str], label_rate: int,
                  protocol: str = "graphgen") -> "NodeClassificationTask":
        if label_rate not in LABEL_RATES:
            raise ConfigError(f"label_rate must be one of {LABEL_RATES}, got {label_rate}")
        num_papers = int(data["paper"].num_nodes)
        relations = {rel: data[src, rel, dst].edge_index for src, rel, dst in data.edge_types
                     if src == "paper" and dst == "paper"}
        unknown = [r for r in [target, *auxiliary] if r not in relations]
        if unknown:
            raise ConfigError(f"relations {unknown} are not paper-paper relations of the dataset; it has "
                              f"{sorted(relations)}")
        graphs = {name: NormalizedGraph.from_edge_index(relations[name], num_papers)
                  for name in dict.fromkeys([target, *auxiliary])}
        paper = data["paper"]
        test = getattr(paper, f"test_idx_{label_rate}").long()
        val = test if protocol == "released" else getattr(paper, f"val_idx_{label_rate}").long()
        return NodeClassificationTask(graphs, paper.y.long(), getattr(paper, f"train_idx_{label_rate}").long(),
                                      val, test)

    def train_items(self):
        from graphgen.train.trainer import TensorTuple

        return TensorTuple(self.train)

    def batch(self, raw: tuple[Tensor, ...], generator: torch.Generator) -> tuple[Tensor, Tensor]:
        nodes = torch.sort(raw[0].long()).values   # the released code sorts each batch
        return nodes, self.labels[nodes]

    def evaluate(self, model: DiffGraph, k: int, batch_size: int, *,
                 splits: tuple[str, ...] = ("val", "test")) -> dict[str, float]:
        from graphgen.evaluate.node_classification import classification_metrics

        logits = model.logits(self.graphs)
        out = {}
        for split, nodes in (("val", self.val), ("test", self.test)):
            if split in splits:
                out.update({f"{split}_{name}": float(v)
                            for name, v in classification_metrics(logits[nodes], self.labels[nodes]).items()})
        if "val" in splits:
            out["score"] = -out["val_micro_f1"]
        return out


def load_task(cfg: DiffGraphRunConfig, data_dir: str | None = None):
    from graphgen.data.registry import load_dataset

    if cfg.dataset not in DATASETS:
        raise ConfigError(f"dataset {cfg.dataset!r} is not a DiffGraph dataset; choose one of {DATASETS}")
    if cfg.protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {PROTOCOLS}, got {cfg.protocol!r}")
    data = load_dataset(cfg.dataset, data_dir=data_dir)
    m = cfg.model
    if cfg.dataset == "retail_rocket":
        task = RecommendationTask.from_data(data, m.target, list(m.auxiliary), cfg.protocol)
        m.task, m.num_users, m.num_items = "recommendation", task.num_users, task.num_items
    else:
        task = NodeClassificationTask.from_data(data, m.target, list(m.auxiliary), cfg.label_rate, cfg.protocol)
        m.task, m.num_nodes, m.num_classes = ("node_classification", int(task.labels.numel()),
                                              int(task.labels.max()) + 1)
    return task


# ----------------------------------------------------------------------------------------------------------------------
# training
# ----------------------------------------------------------------------------------------------------------------------
def _eval_rows(log_path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    return [r for r in rows if "eval" in r]


def _selected_row(log_path: Path) -> dict[str, Any] | None:
    best = [r for r in _eval_rows(log_path) if r.get("best")]
    return best[-1] if best else None


def train(cfg: DiffGraphRunConfig, *, out: str | Path | None = None, resume: bool = False, overwrite: bool = False,
          data_dir: str | None = None, model: DiffGraph | None = None) -> dict[str, Any]:
    """Run (or resume) one training run; returns the summary written to ``<out>/result.json``."""
    from graphgen.train import config as config_lib
    from graphgen.train.runs import prepare_run_folder
    from graphgen.train.trainer import Trainer

    # the default folder of every trainer, runs/<family>_<dataset> (the baselines keep apart by their variant name)
    out = Path(out or f"runs/{cfg.model.variant}_{cfg.dataset}")
    prepare_run_folder(out, resume=resume, overwrite=overwrite)
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    task = load_task(cfg, data_dir)
    if resume:   # the architecture of the checkpoint beats the command line
        saved = config_lib.read_yaml(out / "config.yaml")
        cfg.model = config_lib.from_dict(DiffGraphConfig, saved["model"])
    torch.manual_seed(cfg.trainer.seed)   # application entry: the initial weights
    net = DiffGraph(cfg.model) if model is None else model
    eval_seconds: list[float] = []

    def loss_fn(m: DiffGraph, raw, generator: torch.Generator) -> dict[str, Tensor]:
        return m.loss_terms(task.graphs, task.batch(raw, generator), generator)

    best_val = [float("inf")]

    def evaluate_fn(m: DiffGraph) -> dict[str, float]:
        # the test split is scored only where validation improves (the epochs selection can pick), so a test
        # figure is never seen elsewhere and the test-time propagation is not paid every epoch
        start = time.perf_counter()
        scores = task.evaluate(m, cfg.top_k, cfg.eval_batch_size, splits=("val",))
        if scores["score"] < best_val[0]:
            best_val[0] = scores["score"]
            scores.update(task.evaluate(m, cfg.top_k, cfg.eval_batch_size, splits=("test",)))
        eval_seconds.append(time.perf_counter() - start)
        return {**scores, "eval_seconds": round(eval_seconds[-1], 3)}

    trainer = Trainer(net, task.train_items(), cfg.trainer, out, run_config=cfg, loss_fn=loss_fn,
                      evaluate_fn=evaluate_fn, model_config=config_lib.to_dict(cfg.model))
    result = trainer.fit(resume=resume)
    chosen = _selected_row(out / "log.jsonl")
    epochs_run = result["epoch"] + (result["position"] > 0)
    train_seconds = result["elapsed"] - result.get("startup_seconds", 0.0) - sum(eval_seconds)
    summary = {"model": cfg.model.variant, "dataset": cfg.dataset, "seed": cfg.trainer.seed, "protocol": cfg.protocol,
               **({"label_rate": cfg.label_rate} if cfg.dataset == "aminer" else {}),
               "params": sum(p.numel() for p in net.parameters()), "epochs_run": epochs_run,
               "stopped_by": result["stopped_by"], "elapsed_min": round(result["elapsed"] / 60.0, 2),
               # this invocation's epochs (a resumed run times only its own part)
               "train_seconds_per_epoch": round(train_seconds / max(len(eval_seconds), 1), 3),
               "eval_seconds_per_epoch": round(sum(eval_seconds) / max(len(eval_seconds), 1), 3),
               "startup_seconds": result.get("startup_seconds"),
               "threads": torch.get_num_threads(),
               "best_epoch": chosen["epoch"] if chosen else None,
               "selected": {k: v for k, v in (chosen["eval"] if chosen else {}).items()
                            if k not in ("score", "eval_seconds")},
               "run_dir": str(out)}
    (out / "result.json").write_text(json.dumps(summary, indent=2))
    return summary


# ----------------------------------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    from graphgen.train.runs import add_run_arguments

    add_run_arguments(parser, dataset_default="retail_rocket", dataset_help=f"dataset: {', '.join(DATASETS)}")
    parser.add_argument("--variant", default="diffgraph", choices=VARIANTS,
                        help="diffgraph (the model), no_diffusion (the ablation: auxiliary embeddings added without "
                             "the diffusion module) or lightgcn (the baseline; preset lightgcn_<dataset>.yaml)")
    parser.add_argument("--label-rate", type=int, default=None, choices=LABEL_RATES,
                        help="aminer: labelled papers per class (default: the preset's, 40)")


def preset_family(variant: str) -> str:
    """The preset family of a variant: ``lightgcn_<dataset>.yaml`` for the baseline, ``diffgraph_<dataset>.yaml``
    for DiffGraph and its ablation."""
    return "lightgcn" if variant == "lightgcn" else "diffgraph"


def resolve_config(args: argparse.Namespace) -> DiffGraphRunConfig:
    """Preset ``diffgraph_<dataset>.yaml`` (``lightgcn_<dataset>.yaml`` for the baseline) or ``--config`` < flags <
    ``--set``."""
    from graphgen.train import config as config_lib
    from graphgen.train.runs import config_source, trainer_flags

    family = preset_family(args.variant)
    base: dict[str, Any] = {"dataset": args.dataset}
    flags = trainer_flags(args)
    flags.setdefault("model", {})["variant"] = args.variant
    if args.label_rate is not None:
        flags["label_rate"] = args.label_rate
    return config_lib.resolve(DiffGraphRunConfig, base=base, flags=flags, overrides=args.set,
                              **config_source(args, family))


def run(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    from graphgen.train.runs import warm_start_model

    model = warm_start_model(args, DiffGraph, cfg)
    summary = train(cfg, out=args.out, resume=args.resume, overwrite=args.overwrite, data_dir=args.data_dir,
                    model=model)
    print(json.dumps(summary, indent=2))
    return 0
