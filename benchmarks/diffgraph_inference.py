"""DiffGraph inference: the released reverse chain (every step) vs graphgen's ``last_step`` (one x0 prediction), on the
same trained weights, in one run: metrics of both and the time of each (median of ``--repeats``), as a ratio.

    python benchmarks/diffgraph_inference.py --run runs/bench/diffgraph/diffgraph_retail_rocket_s0 --threads 2
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphgen.generate.diffgraph.model import DiffGraph  # noqa: E402
from graphgen.generate.diffgraph.train import DiffGraphRunConfig, load_task  # noqa: E402
from graphgen.train import config as config_lib  # noqa: E402
from graphgen.train.bench import format_rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="a DiffGraph run folder (its best/ is scored)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = config_lib.from_dict(DiffGraphRunConfig, config_lib.read_yaml(args.run / "config.yaml"))
    task = load_task(cfg)
    rows = []
    times = {}
    for inference in ("chain", "last_step"):
        model = DiffGraph.from_pretrained(args.run / "best")
        model.config.diffusion = dataclasses.replace(model.config.diffusion, inference=inference)
        model.diffusion.inference = inference
        model.eval()
        spent = []
        with torch.no_grad():
            for _ in range(args.repeats):
                start = time.perf_counter()
                model.embeddings(task.graphs)
                spent.append(time.perf_counter() - start)
            scores = task.evaluate(model, cfg.top_k, cfg.eval_batch_size)
        times[inference] = statistics.median(spent)
        metrics = {k: v for k, v in scores.items() if k != "score"}
        rows.append((inference, f"{times[inference]:.3f}", *[f"{v:.4f}" for v in metrics.values()]))
    print(format_rows(("inference", "embeddings s", *metrics.keys()), rows))
    print(f"last_step / chain time: {times['last_step'] / times['chain']:.3f} "
          f"({times['chain'] / times['last_step']:.1f}x faster), {args.threads} threads, {args.repeats} repeats")


if __name__ == "__main__":
    main()
