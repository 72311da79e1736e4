"""Per-dataset settings taken from the GDSS paper's configs (numbers only): architecture, processes, sampler and
training. ``PRESETS[name]`` gives ``(model config dict, training defaults dict)``; the CLI overrides either."""
from __future__ import annotations

from typing import Any

_GENERIC_TRAIN = dict(batch_size=128, epochs=5000, lr=1e-2, weight_decay=1e-4, ema=0.999, grad_clip=1.0,
                      lr_decay=0.999)

PRESETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "community_small": (
        dict(kind="graph", max_nodes=20, num_node_features=10,
             sde_x=dict(kind="vp", beta_min=0.1, beta_max=1.0, num_scales=1000),
             sde_adj=dict(kind="vp", beta_min=0.1, beta_max=1.0, num_scales=1000),
             net_x=dict(depth=3, hidden=32),
             net_adj=dict(num_layers=5, hidden=32, attn=32, heads=4, num_linears=2, c_init=2, c_hid=8, c_final=4),
             sampler=dict(method="pc", predictor="euler", corrector="langevin", snr=0.05, scale_eps=0.7, eps=1e-4)),
        _GENERIC_TRAIN,
    ),
    "ego_small": (
        dict(kind="graph", max_nodes=18, num_node_features=17,
             sde_x=dict(kind="vp", beta_min=0.1, beta_max=1.0, num_scales=1000),
             sde_adj=dict(kind="vp", beta_min=0.1, beta_max=1.0, num_scales=1000),
             net_x=dict(depth=2, hidden=32),
             net_adj=dict(num_layers=5, hidden=32, attn=32, heads=4, num_linears=2, c_init=2, c_hid=8, c_final=4),
             sampler=dict(method="pc", predictor="euler", corrector="none", snr=0.0, scale_eps=0.0, eps=1e-4)),
        _GENERIC_TRAIN,
    ),
    "qm9": (
        dict(kind="molecule", vocab="qm9", max_nodes=9, num_node_features=4,
             sde_x=dict(kind="ve", beta_min=0.1, beta_max=1.0, num_scales=1000),
             sde_adj=dict(kind="ve", beta_min=0.1, beta_max=1.0, num_scales=1000),
             net_x=dict(depth=2, hidden=16),
             net_adj=dict(num_layers=3, hidden=16, attn=16, heads=4, num_linears=3, c_init=2, c_hid=8, c_final=4),
             sampler=dict(method="pc", predictor="reverse", corrector="langevin", snr=0.2, scale_eps=0.7, eps=1e-4)),
        dict(batch_size=1024, epochs=300, lr=5e-3, weight_decay=1e-4, ema=0.999, grad_clip=1.0, lr_decay=0.999),
    ),
}
