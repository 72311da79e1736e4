"""PARD QM9 samples against the data, block by block: where validity and uniqueness are lost.

Reads the samples that ``graphgen bench generate`` saves next to its JSON (``*.samples.safetensors``, a
``graphgen.data.graph_file``) and prints, next to the same statistic on QM9's training graphs:

- ``block_order_agreement``: samples whose generation blocks are their PARD decomposition (the data: 1.0 by
  construction);
- the intra-block degree sequences of 5- and 6-node first blocks (in QM9 they are rings: all degree 2);
- the atom-count distribution, and validity without correction and uniqueness per atom count;
- with ``--model``: the size head's probability of stopping right after a 6-node first block, teacher-forced on
  training graphs and on the samples' own first blocks (a head shown blocks unlike the data's stops at random).

    GRAPHGEN_DATA=../shared/data python benchmarks/pard_blocks_qm9.py runs/notes/pard_qm9_n10000.samples.safetensors \
        --model runs/pard_qm9_b/ema_16767

This is the analysis behind the joint next-block head (``PARDConfig.degree_given_size``).
"""
from __future__ import annotations

import argparse
import collections

import torch
from torch_geometric.data import Batch, Data


def first_block_degrees(g: Data, block: torch.Tensor) -> tuple[int, tuple[int, ...]]:
    """(size, sorted intra-block degrees) of block 0."""
    first = block == 0
    ei = g.edge_index
    inside = first[ei[0]] & first[ei[1]]
    deg = torch.bincount(ei[0][inside], minlength=int(g.num_nodes))[first]
    return int(first.sum()), tuple(sorted(deg.tolist()))


def stop_after_first_block(model, graphs: list[Data], size: int) -> tuple[int, float]:
    """Mean P(next size = 0) after block 0, over the graphs whose block 0 has ``size`` nodes (teacher-forced)."""
    sel = [g for g in graphs if int((g.block == 0).sum()) == size]
    if not sel:
        return 0, float("nan")
    X, E, Bk, mask = model._dense(Batch.from_data_list(sel))
    with torch.no_grad():
        summary, _ = model.network.real_pass(X, model._with_diagonal(E), Bk, mask)
        p = torch.softmax(model.network.size_logits(summary[:, 0]), -1)
    return len(sel), float(p[:, 0].mean())


def main() -> None:
    from graphgen.data.graph_file import load_graphs
    from graphgen.data.molecules import VOCABS
    from graphgen.data.registry import load_dataset
    from graphgen.evaluate.molecules import gdss_outcome
    from graphgen.generate.pard.blocks import block_decomposition, order_agreement

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("samples", help="*.samples.safetensors written by `graphgen bench generate`")
    p.add_argument("--model", default=None, help="the PARD model that sampled them (for the stop probabilities)")
    p.add_argument("--reference", type=int, default=20000, help="training graphs to compare with")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    samples, saved = load_graphs(args.samples)
    train = load_dataset("qm9", "train")
    step = max(len(train) // args.reference, 1)
    ref = [train[i] for i in range(0, len(train), step)][: args.reference]
    for g in ref:
        g.block = block_decomposition(g.edge_index, int(g.num_nodes))
    print(f"{len(samples)} samples of {saved.get('key')}; {len(ref)} QM9 training graphs")
    print(f"block_order_agreement: samples {order_agreement(samples):.4f}, QM9 {order_agreement(ref):.4f}")

    for size in (5, 6):
        for name, graphs in (("samples", samples), ("QM9", ref)):
            seqs = collections.Counter(first_block_degrees(g, g.block)[1] for g in graphs
                                       if int((g.block == 0).sum()) == size)
            total = sum(seqs.values())
            top = ", ".join(f"{s}: {c}" for s, c in seqs.most_common(4))
            print(f"{size}-node first blocks, {name}: {total}; ring {seqs[(2,) * size] / max(total, 1):.3f}; {top}")

    vocab = VOCABS["qm9"]
    by_size: dict[int, list] = collections.defaultdict(list)
    for g in samples:
        by_size[int(g.num_nodes)].append(gdss_outcome(g, vocab))
    ref_sizes = collections.Counter(int(g.num_nodes) for g in ref)
    print("atoms  samples  QM9     valid w/o corr  unique (valid ones)")
    for n in sorted(set(by_size) | set(ref_sizes)):
        outs = by_size.get(n, [])
        valid = [o.smiles for o in outs if o.valid_wo_correction]
        print(f"{n:5d}  {len(outs) / len(samples):.4f}   {ref_sizes[n] / len(ref):.4f}  "
              f"{len(valid) / max(len(outs), 1):14.3f}  {len(set(valid)) / max(len(valid), 1):.3f}")

    if args.model:
        from graphgen.generate import load_generator

        model = load_generator(args.model).eval()
        for name, graphs in (("samples", samples), ("QM9", ref)):
            n, p_stop = stop_after_first_block(model, graphs, 6)
            print(f"P(stop after a 6-node first block), {name} ({n} graphs): {p_stop:.3f}")


if __name__ == "__main__":
    main()
