"""QM9 generators side by side: PARD (block diffusion) vs the score SDE (GDSS), same machine, same run.

Each model samples ``-n`` molecules with the same seed and ``--threads`` torch threads; the table gives network
evaluations per graph, molecules per second (sampling only) and the GDSS-protocol metrics (validity w/o correction,
uniqueness, novelty, FCD, NSPDK MMD against the QM9 test split), plus the ratio PARD / SDE for speed and NFE.

    GRAPHGEN_DATA=../shared/data python benchmarks/generate_qm9.py --pard qm9 --sde qm9-gdss \
        -n 1000 --threads 2 --json runs/compare_qm9.json

    # speed only, metrics from the protocol's 10,000-sample runs of `graphgen bench generate`:
    GRAPHGEN_DATA=../shared/data python benchmarks/generate_qm9.py --pard qm9 --pard-scores PARD_10K.json \
        --sde qm9-gdss --sde-scores GDSS_10K.json -n 300 --threads 2

``--pard``/``--sde`` take a saved-generator folder or a bundled model name; either may be omitted.
``--pard-scores``/``--sde-scores`` take the JSON that ``graphgen bench generate`` wrote for the same model (e.g. the
protocol's 10,000 samples): the metrics then come from that file and this run only times ``-n`` samples, so the speed
columns can be measured on an idle machine without sampling 10,000 molecules again. The table says which.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

PUBLISHED_GDSS = {"validity_wo_correction": 0.9572, "nspdk_mmd": 0.003, "fcd": 2.900, "uniqueness": 0.9846,
                  "novelty": 0.8627}  # GDSS paper, QM9 (REFERENCE.md §5, unverified)


def measure(model, n: int, seed: int, batch_size: int) -> dict:
    """Sample ``n`` graphs; return graphs, seconds and network evaluations per graph (``SampleStats``; both
    generators count one pass of their denoiser over a graph as one evaluation)."""
    from graphgen.generate.base import SampleStats

    stats = SampleStats()
    start = time.perf_counter()
    graphs = model.sample(n, generator=torch.Generator().manual_seed(seed), batch_size=batch_size, callback=stats)
    seconds = time.perf_counter() - start
    nfe = stats.evaluations_per_graph
    return {"graphs": graphs, "seconds": seconds, "nfe_per_graph": nfe, "mol_per_s": n / seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pard", default=None, help="PARD model folder or bundled name (e.g. qm9)")
    p.add_argument("--sde", default=None, help="score-SDE model folder")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--pard-scores", default=None, help="metrics from this `graphgen bench generate` JSON instead")
    p.add_argument("--sde-scores", default=None, help="metrics from this `graphgen bench generate` JSON instead")
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from graphgen.data.molecules import VOCABS
    from graphgen.evaluate.molecules import evaluate_molecules
    from graphgen.generate import load_generator

    rows = {}
    sources = {}
    for label, where, saved in (("PARD", args.pard, args.pard_scores), ("SDE", args.sde, args.sde_scores)):
        if where is None:
            continue
        model = load_generator(where)
        vocab = VOCABS[getattr(model.config, "vocab", None) or "qm9"] if label == "PARD" else getattr(model, "vocab", VOCABS["qm9"])
        m = measure(model, args.n, args.seed, args.batch_size)
        graphs = m.pop("graphs")
        if saved:
            with open(saved) as f:
                report = json.load(f)
            scores = {k: v for k, v in report["scores"].items() if k not in ("sampling_seconds", "molecules_per_second")}
            sources[label] = f"{saved} ({int(scores['samples'])} samples of {report['model']}, seed {report['seed']})"
        else:
            scores = evaluate_molecules(graphs, train="qm9", test="qm9", protocol="gdss", vocab=vocab, progress=False)
            sources[label] = f"this run ({args.n} samples)"
        rows[label] = {"model": where, "params": sum(t.numel() for t in model.parameters()), **m, **scores,
                       "metrics_from": sources[label]}
        print(f"[{label}] {json.dumps({k: v for k, v in rows[label].items()}, default=str)}", flush=True)

    keys = ["params", "nfe_per_graph", "mol_per_s", "validity_wo_correction", "validity", "connected", "uniqueness",
            "novelty", "fcd", "nspdk_mmd"]
    labels = list(rows) + ["GDSS paper"]
    print(f"\nQM9; speed: {args.n} samples each, seed {args.seed}, {args.threads} torch threads; metrics from:")
    for lab, src in sources.items():
        print(f"  {lab}: {src}")
    print(f"{'metric':<24}" + "".join(f"{lab:>14}" for lab in labels) + ("  PARD/SDE" if len(rows) == 2 else ""))
    for k in keys:
        vals = [rows[lab].get(k, float("nan")) for lab in rows] + [PUBLISHED_GDSS.get(k, float("nan"))]
        line = f"{k:<24}" + "".join(f"{v:>14.4g}" for v in vals)
        if len(rows) == 2 and k in ("nfe_per_graph", "mol_per_s", "params"):
            line += f"  {rows['PARD'][k] / rows['SDE'][k]:.3g}x"
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2, default=float)


if __name__ == "__main__":
    main()
