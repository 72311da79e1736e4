"""Use graphgen layers inside your own PyG model, on an ordinary PyG dataset object.

graphgen layers are plain ``torch.nn.Module`` s with a typed forward on ``(x, edge_index, edge_attr, batch)``, so they
drop into any PyG model: here a ``GPSLayer`` (GINE local conv + per-graph multi-head attention) and a ``GRITLayer``
sit between PyG's own ``Linear`` input projection and ``global_mean_pool``, trained on
``torch_geometric.datasets.FakeDataset`` (random graphs, no download) with random-walk SE added by graphgen's
``AddRWSE`` transform.

    python examples/gps_in_your_model.py --epochs 3
"""
from __future__ import annotations

import argparse

import torch
from torch import nn
from torch_geometric.datasets import FakeDataset
from torch_geometric.loader import DataLoader
from torch_geometric.nn import global_mean_pool

from graphgen.data.transforms import AddRWSE
from graphgen.nn import GINEConv, GPSLayer, GRITLayer, MultiheadSelfAttention, RWSENodeEncoder


class MyModel(nn.Module):
    def __init__(self, in_channels: int, edge_dim: int, num_classes: int, hidden: int = 32, rw_steps: int = 8):
        super().__init__()
        self.lin_in = nn.Linear(in_channels, hidden - 8)
        self.rwse = RWSENodeEncoder(rw_steps, 8)                    # concatenates 8 RWSE dims -> hidden
        self.lin_edge = nn.Linear(edge_dim, hidden)
        gine = GINEConv(nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden)))
        self.gps = GPSLayer(hidden, gine, MultiheadSelfAttention(hidden, heads=4), dropout=0.1)
        self.grit = GRITLayer(hidden, heads=4, degree_scaler=False)  # sparse GRIT attention over the real edges
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, x, edge_index, edge_attr, rwse, batch):
        h = self.rwse(self.lin_in(x), rwse)
        e = self.lin_edge(edge_attr)
        h, e = self.gps(h, edge_index, e, batch)
        h, e = self.grit(h, edge_index, e, batch)
        return self.out(global_mean_pool(h, batch))


def main(argv: list[str] | None = None) -> float:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--num-graphs", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    dataset = FakeDataset(num_graphs=args.num_graphs, avg_num_nodes=16, num_channels=12, edge_dim=4,
                          num_classes=3, task="graph", transform=AddRWSE(8))
    loader = DataLoader(dataset, batch_size=32, shuffle=True)
    model = MyModel(dataset.num_features, 4, dataset.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = torch.tensor(float("nan"))
    for epoch in range(args.epochs):
        total, count = 0.0, 0
        for data in loader:
            opt.zero_grad()
            logits = model(data.x, data.edge_index, data.edge_attr, data.rwse, data.batch)
            loss = nn.functional.cross_entropy(logits, data.y.view(-1))
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()) * data.num_graphs, count + data.num_graphs
        print(f"epoch {epoch}: train loss {total / count:.4f}")
    return total / count


if __name__ == "__main__":
    main()
