"""Train DiffGraph on Retail Rocket for a few epochs and recommend items to one user.

    GRAPHGEN_DATA=../shared/data python examples/diffgraph_recommend.py

The command-line equivalent of the training part (with the released recipe of 100 epochs) is
``graphgen train diffgraph --dataset retail_rocket --out runs/diffgraph_rr``; ``graphgen bench diffgraph`` compares it
with its no-diffusion ablation and LightGCN over seeds.
"""
from __future__ import annotations

import tempfile

import torch

from graphgen.generate.diffgraph.model import DiffGraph
from graphgen.generate.diffgraph.train import DiffGraphRunConfig, load_task, train
from graphgen.train import config as config_lib

cfg = config_lib.resolve(DiffGraphRunConfig, preset=config_lib.preset_path("diffgraph", "retail_rocket"))
cfg.trainer.epochs = 5                      # the preset trains 100; 5 epochs show the workflow in about a minute
with tempfile.TemporaryDirectory() as folder:
    summary = train(cfg, out=f"{folder}/run")
    print("selected epoch", summary["best_epoch"], summary["selected"])
    model = DiffGraph.from_pretrained(f"{folder}/run/best")   # the weights of the epoch chosen on validation

model.eval()
task = load_task(cfg)                       # the relation graphs the model propagates over
with torch.no_grad():
    final = model.embeddings(task.graphs)
users, items = final[:task.num_users], final[task.num_users:]
user = 0
scores = items @ users[user]
bought = task.fit[1][task.fit[0] == user]
scores[bought] = float("-inf")              # recommend only items the user has not bought
print(f"user {user} bought {bought.tolist()}; top 10 recommendations: {scores.topk(10).indices.tolist()}")
