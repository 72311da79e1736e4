"""``graphgen train pard --dataset NAME``: train the PARD generator on CPU or GPU, with checkpoints and ``--resume``.

Output folder (``--out``, default ``runs/pard_<dataset>``):

- ``last/``: live weights + ``config.json`` (loadable by ``from_pretrained``), ``optimizer.safetensors`` (AdamW
  moments, flattened) and ``state.json`` (step, epoch, elapsed seconds, data-loader seed);
- ``ema/``: the exponential moving average of the weights (the model to sample from), same format;
- ``log.jsonl``: one line of loss terms every ``--log-every`` steps;
- with ``--keep-checkpoints``, ``ema_<step>/`` for every checkpoint (a later checkpoint that scores worse does not
  overwrite a better one: on community_small a test-best EMA was lost that way).

``--init qm9`` (or a folder) warm-starts from saved weights with a fresh optimiser; the architecture is the saved one.
On ``--resume`` the architecture comes from ``last/config.json`` (its keys beat the command line); the budget
arguments (``--minutes``, ``--max-steps``, ``--lr``, ...) come from the command line.

``--select`` (generic graphs) adds checkpoint selection: at every checkpoint the EMA weights sample a fixed-seed draw
of graphs, scored by the GDSS-protocol MMDs (degree + clustering + orbit) against the *training* graphs (the test
split stays untouched); the best-scoring EMA so far is kept in ``best/`` with its scores in ``best/selection.json``,
and every score goes to ``selection.jsonl``. On community_small the EMA's test MMDs moved by more between checkpoints
than between sample draws (and not monotonically), which is why the last checkpoint is not simply the one to ship.
It is a noisy measure on small datasets: on community_small (80 training graphs) the EMA it selected at step 3,525
scored degree / clustering / orbit MMD 0.078 / 0.200 / 0.022 on the test graphs, worse than an earlier step-2,792 EMA
(0.064 / 0.167 / 0.014) that a run without selection had measured.

``--heads-only`` (with ``--init``) trains only the start token and the next-block size/degree heads, on block
summaries from a real-node pass of the frozen denoiser (no gradient through it, so a step costs a fraction of a full
one); ``state.json`` remembers it for ``--resume``. A model whose config predates
``PARDConfig.degree_given_size`` first gets the joint head (degree given size, zero-initialised, so it starts as the
old independent head). Measured: on QM9 the degree cross-entropy of the bundled model's heads fell from 0.36 to 0.09
in 20 minutes on 1 thread; on community_small from 0.33 to 0.04 in 4 minutes.

The learning rate is constant unless ``--decay-to LR_MIN`` is given with ``--max-steps``: then it follows a cosine
from ``--lr`` at the step where the decay was first requested down to ``LR_MIN`` at ``--max-steps`` (a cool-down
phase; the start step is kept in ``state.json``, so a resume with the same ``--max-steps`` continues the same
curve, and a resume with a later ``--max-steps`` stretches it, which raises the learning rate at the resume step).
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import torch

from graphgen.generate.base import EMA
from graphgen.generate.pard.model import PARDConfig, PARDGenerator

ARCH_ARGS = ("hidden", "edge_hidden", "num_layers", "heads", "dropout", "max_hops", "num_steps", "noise",
             "vlb_weight", "ce_weight", "size_weight")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="dataset name (graphgen.data.registry), e.g. qm9, community_small")
    parser.add_argument("--data-dir", default=None, help="folder with the raw files (default: $GRAPHGEN_DATA)")
    parser.add_argument("--out", default=None, help="run folder (default: runs/pard_<dataset>)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/last")
    parser.add_argument("--init", default=None, metavar="NAME_OR_PATH",
                        help="warm start: weights and architecture of a saved or bundled model (e.g. qm9), fresh optimiser")
    parser.add_argument("--heads-only", action="store_true",
                        help="with --init: train only the next-block size/degree heads on the frozen denoiser (the "
                             "model is first given the joint size->degree head if its config predates it)")
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget of this invocation")
    parser.add_argument("--max-steps", type=int, default=None, help="stop at this optimiser step (total)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--decay-to", type=float, default=None, metavar="LR_MIN",
                        help="cosine cool-down of the learning rate to LR_MIN at --max-steps (needs --max-steps)")
    parser.add_argument("--select", action="store_true",
                        help="keep the EMA checkpoint with the lowest MMD to the training graphs in <out>/best "
                             "(generic graphs; see the module docstring)")
    parser.add_argument("--keep-checkpoints", action="store_true",
                        help="also keep every checkpoint's EMA weights as <out>/ema_<step> (small models: ~1 MB each)")
    parser.add_argument("--select-samples", type=int, default=None,
                        help="graphs per selection draw (default: the training-set size, at most 256)")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--ema", type=float, default=0.999, help="EMA decay of the sampled weights")
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    d = PARDConfig()
    parser.add_argument("--hidden", type=int, default=d.hidden)
    parser.add_argument("--edge-hidden", type=int, default=d.edge_hidden)
    parser.add_argument("--num-layers", type=int, default=d.num_layers)
    parser.add_argument("--heads", type=int, default=d.heads)
    parser.add_argument("--dropout", type=float, default=d.dropout)
    parser.add_argument("--max-hops", type=int, default=d.max_hops)
    parser.add_argument("--num-steps", type=int, default=d.num_steps, help="diffusion steps T per block")
    parser.add_argument("--noise", choices=("marginal", "uniform"), default=d.noise)
    parser.add_argument("--vlb-weight", type=float, default=d.vlb_weight)
    parser.add_argument("--ce-weight", type=float, default=d.ce_weight)
    parser.add_argument("--size-weight", type=float, default=d.size_weight)


def load_split(name: str, split: str, data_dir: str | None):
    """The graphs of ``split`` of dataset ``name`` and the molecule vocabulary name (or None)."""
    from graphgen.data.registry import load_dataset

    ds = load_dataset(name, split, data_dir=data_dir)
    vocab = getattr(ds, "vocab", None)
    return [ds[i] for i in range(len(ds))], (getattr(vocab, "name", None) if vocab is not None else None)


def attach_blocks(graphs: list, max_hops: int, cache: Path | None = None) -> list:
    """Graphs with their PARD ``block`` vectors; the decomposition (pure Python, minutes on QM9) is cached in
    ``cache`` (safetensors: all block vectors concatenated + node counts) and reused when the node counts match."""
    from safetensors.torch import load_file, save_file
    from tqdm.auto import tqdm

    from graphgen.generate.pard.model import prepare_graph

    sizes = torch.tensor([int(g.num_nodes) for g in graphs], dtype=torch.long)
    if cache is not None and cache.exists():
        stored = load_file(str(cache))
        if torch.equal(stored["num_nodes"], sizes):
            out = []
            for g, block in zip(graphs, stored["block"].split(sizes.tolist())):
                g = g.clone()
                g.block = block.clone()
                out.append(g)
            return out
        print(f"[pard] {cache} was made for other graphs; recomputing the decomposition")
    out = [prepare_graph(g, max_hops) for g in tqdm(graphs, desc="block decomposition", mininterval=5)]
    if cache is not None:
        save_file({"num_nodes": sizes, "block": torch.cat([g.block for g in out])}, str(cache))
    return out


def resolve_config(args: argparse.Namespace, graphs: list, vocab: str | None) -> PARDConfig:
    """The full config from the command line plus the values measured on the training graphs."""
    from graphgen.generate.pard.blocks import block_degrees, block_sizes

    max_nodes = max(int(g.num_nodes) for g in graphs)
    max_size = max(int(block_sizes(g.block).max()) for g in graphs)
    max_degree = max(int(block_degrees(g.edge_index, g.block).max()) for g in graphs)
    if vocab is not None:
        from graphgen.data.molecules import VOCABS

        v = VOCABS[vocab]
        num_node_types, num_edge_types = v.num_atom_types, v.num_bond_types + 1
    else:
        num_node_types, num_edge_types = 1, 2
    return PARDConfig(
        num_node_types=num_node_types, num_edge_types=num_edge_types, vocab=vocab,
        max_block_size=max_size, max_degree=max_degree, max_nodes=max_nodes,
        **{k: getattr(args, k) for k in ARCH_ARGS},
    )


def _save(model: PARDGenerator, ema: EMA, opt: torch.optim.Optimizer, state: dict, out: Path) -> None:
    """Write ``last/`` and ``ema/`` atomically (into a temp folder, then rename)."""
    from safetensors.torch import save_file

    for name, module in (("last", model), ("ema", ema.averaged_copy(model))):
        tmp = out / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        module.save_pretrained(tmp)
        if name == "last":
            names = {id(p): n for n, p in model.named_parameters()}
            flat = {}
            for group in opt.param_groups:
                for p in group["params"]:
                    s = opt.state.get(p)
                    if s:
                        for key in ("exp_avg", "exp_avg_sq"):
                            flat[f"{names[id(p)]}.{key}"] = s[key].contiguous()
                        flat[f"{names[id(p)]}.step"] = torch.as_tensor(s["step"], dtype=torch.float64).reshape(1)
            save_file(flat, str(tmp / "optimizer.safetensors"))
            save_file(ema.state_dict(), str(tmp / "ema_shadow.safetensors"))
            (tmp / "state.json").write_text(json.dumps(state, indent=2) + "\n")
        final = out / name
        old = out / f".{name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)


def _load_optimizer(model: PARDGenerator, opt: torch.optim.Optimizer, path: Path) -> None:
    from safetensors.torch import load_file

    flat = load_file(str(path))
    for n, p in model.named_parameters():
        if f"{n}.exp_avg" in flat:
            opt.state[p] = {
                "step": torch.tensor(float(flat[f"{n}.step"][0])),
                "exp_avg": flat[f"{n}.exp_avg"],
                "exp_avg_sq": flat[f"{n}.exp_avg_sq"],
            }


def cosine_lr(step: int, start: int, end: int, lr: float, lr_min: float) -> float:
    """Cosine cool-down: ``lr`` at ``step <= start``, ``lr_min`` at ``step >= end``, half a cosine in between."""
    if end <= start:
        return lr_min
    frac = min(max((step - start) / (end - start), 0.0), 1.0)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * frac))


SELECT_STATS = ("degree", "clustering", "orbit")


def select_checkpoint(sampler: PARDGenerator, graphs: list, state: dict, out: Path, num_samples: int,
                      seed: int = 12345) -> dict:
    """Score ``sampler`` (the EMA copy) on a fixed-seed draw against ``graphs``; copy ``out/ema`` to ``out/best`` if
    its MMD sum beats the best so far. Returns the scores row (also appended to ``selection.jsonl``)."""
    from graphgen.evaluate import evaluate_graphs

    samples = sampler.sample(num_samples, generator=torch.Generator().manual_seed(seed))   # no_grad, eval mode
    scores = evaluate_graphs(samples, graphs, protocol="gdss", progress=False, num_workers=0)
    row = {"step": int(state["step"]), **{k: float(scores[k]) for k in SELECT_STATS}}
    row["score"] = sum(row[k] for k in SELECT_STATS)
    best_file = out / "best" / "selection.json"
    best = json.loads(best_file.read_text())["score"] if best_file.exists() else float("inf")
    row["best"] = row["score"] < best
    if row["best"]:
        tmp = out / ".best.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(out / "ema", tmp)
        (tmp / "selection.json").write_text(json.dumps({**row, "samples": num_samples, "seed": seed,
                                                        "reference": "training graphs"}, indent=2) + "\n")
        shutil.rmtree(out / "best", ignore_errors=True)
        tmp.rename(out / "best")
    with (out / "selection.jsonl").open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    return row


def run(args: argparse.Namespace) -> int:
    from torch_geometric.loader import DataLoader

    if args.heads_only and not (args.init or args.resume):
        raise SystemExit("graphgen train pard: --heads-only trains the block heads of an existing model; give --init")
    if args.decay_to is not None and args.max_steps is None:
        raise SystemExit("graphgen train pard: --decay-to needs --max-steps (the step where the cool-down ends)")
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out or f"runs/pard_{args.dataset}")
    out.mkdir(parents=True, exist_ok=True)
    graphs, vocab = load_split(args.dataset, "train", args.data_dir)
    print(f"[pard] {args.dataset}: {len(graphs)} training graphs")
    if args.select and vocab is not None:
        raise SystemExit("graphgen train pard: --select scores generic-graph MMDs; it is not for molecule datasets "
                         f"({args.dataset}); pick a molecule checkpoint with `graphgen bench generate` instead")

    state = {"step": 0, "epoch": 0, "elapsed": 0.0, "seed": args.seed, "dataset": args.dataset}
    if args.resume and (out / "last" / "config.json").exists():
        model = PARDGenerator.from_pretrained(out / "last")
        state = json.loads((out / "last" / "state.json").read_text())
        print(f"[pard] resuming from {out / 'last'} at step {state['step']}")
    elif args.init:
        model = PARDGenerator.from_pretrained(args.init)
        if args.heads_only and not model.config.degree_given_size:
            model = model.with_joint_block_head()
            print("[pard] the degree head now sees the next block's size (zero-initialised size embedding)")
        state["init"] = str(args.init)
        (out / "config.json").write_text(json.dumps(model.config_dict(), indent=2) + "\n")
        print(f"[pard] warm start from {args.init} (architecture from its config; optimiser state is fresh)")
    else:
        if args.resume:
            print(f"[pard] --resume given but {out / 'last'} does not exist; starting fresh")
        graphs = attach_blocks(graphs, args.max_hops, out / f"blocks_k{args.max_hops}.safetensors")
        model = PARDGenerator(resolve_config(args, graphs, vocab))
        model.set_marginals(graphs)
        (out / "config.json").write_text(json.dumps(model.config_dict(), indent=2) + "\n")
    if getattr(graphs[0], "block", None) is None:
        k = model.config.max_hops
        graphs = attach_blocks(graphs, k, out / f"blocks_k{k}.safetensors")
    model.train()
    print(model)
    if args.heads_only:
        state["heads_only"] = True
    heads_only = bool(state.get("heads_only"))
    if heads_only:  # everything but the start token and the size/degree heads stays as loaded
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith(PARDGenerator.BLOCK_HEAD_PREFIXES))
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"[pard] heads only: {trainable} of {model.num_parameters()} parameters train")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr,
                            weight_decay=args.weight_decay)
    ema = EMA(model, decay=args.ema)
    if args.resume and (out / "last" / "optimizer.safetensors").exists():
        from safetensors.torch import load_file

        _load_optimizer(model, opt, out / "last" / "optimizer.safetensors")
        ema.load_state_dict(load_file(str(out / "last" / "ema_shadow.safetensors")))

    if args.decay_to is not None:
        state.setdefault("decay_start", int(state["step"]))
        print(f"[pard] cosine cool-down of the learning rate {args.lr:g} -> {args.decay_to:g} "
              f"from step {state['decay_start']} to {args.max_steps}")

    def lr_at(step: int) -> float:
        if args.decay_to is None:
            return args.lr
        return cosine_lr(step, int(state["decay_start"]), args.max_steps, args.lr, args.decay_to)

    t0 = time.time()
    elapsed0 = float(state["elapsed"])
    last_ckpt = time.time()
    log = (out / "log.jsonl").open("a")
    gen = torch.Generator().manual_seed(args.seed * 1000003 + int(state["step"]))
    done = False
    running: dict[str, float] = {}
    running_steps = 0                        # steps in ``running`` (fewer than --log-every right after a resume)
    while not done:
        loader_gen = torch.Generator().manual_seed(args.seed * 7919 + int(state["epoch"]))
        loader = DataLoader(graphs, batch_size=args.batch_size, shuffle=True, generator=loader_gen, drop_last=True)
        for batch in loader:
            for group in opt.param_groups:
                group["lr"] = lr_at(int(state["step"]))
            terms = model.block_head_loss_terms(batch) if heads_only else model.loss_terms(batch, generator=gen)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ema.update(model)
            state["step"] += 1
            for k, v in terms.items():
                running[k] = running.get(k, 0.0) + float(v.detach())
            running_steps += 1
            if state["step"] % args.log_every == 0:
                row = {k: v / running_steps for k, v in running.items()}
                row.update(step=state["step"], epoch=state["epoch"], lr=opt.param_groups[0]["lr"],
                           elapsed=round(elapsed0 + time.time() - t0, 1))
                log.write(json.dumps(row) + "\n")
                log.flush()
                parts = " ".join(f"{k.split('_')[0]} {row[k]:.3f}" for k in ("node_ce", "edge_ce", "size_ce", "degree_ce")
                                 if k in row)
                print(f"[pard] step {state['step']} loss {row['loss']:.4f} ({parts})", flush=True)
                running, running_steps = {}, 0
            out_of_time = time.time() - t0 > args.minutes * 60
            out_of_steps = args.max_steps is not None and state["step"] >= args.max_steps
            if time.time() - last_ckpt > args.checkpoint_minutes * 60 or out_of_time or out_of_steps:
                state["elapsed"] = round(elapsed0 + time.time() - t0, 1)
                _save(model, ema, opt, state, out)
                print(f"[pard] checkpoint at step {state['step']} -> {out}", flush=True)
                if args.keep_checkpoints:
                    shutil.copytree(out / "ema", out / f"ema_{state['step']}", dirs_exist_ok=True)
                if args.select:
                    n_sel = args.select_samples or min(len(graphs), 256)
                    row = select_checkpoint(ema.averaged_copy(model), graphs, state, out, n_sel)
                    print(f"[pard] selection at step {row['step']}: " + " ".join(
                        f"{k} {row[k]:.4f}" for k in SELECT_STATS) + (" (best so far -> best/)" if row["best"] else ""),
                        flush=True)
                last_ckpt = time.time()
            if out_of_time or out_of_steps:
                done = True
                break
        else:
            state["epoch"] += 1
    log.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser()
    add_arguments(p)
    raise SystemExit(run(p.parse_args()))
