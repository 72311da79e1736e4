"""Evaluators on the published protocols: molecules (GDSS, DiGress, MOSES), generic graphs (GDSS, SPECTRE), scene
graphs (DiffuseSG), lane graphs (SLEDGE), recommendation and node classification (DiffGraph)."""
# name -> submodule: imported on first use, so that `graphgen sample` (which needs one helper) does not pay for scipy,
# networkx and RDKit descriptors at start-up (PEP 562)
_WHERE = {
    "evaluate_molecules": "molecules",
    "NSPDK": "nspdk",
    "nspdk_mmd": "nspdk",
    "FCDStats": "fcd",
    "fcd_stats": "fcd",
    "frechet_distance": "fcd",
    "evaluate_graphs": "graphs",
    "read_graphs": "graphs",
    "evaluate_lane_graphs": "lane_graphs",
    "independent_lanes_baseline": "lane_graphs",
    "graph_mmd": "mmd",
    "mmd2": "mmd",
    "classification_metrics": "node_classification",
    "orbit_counts": "orbits",
    "rank_metrics": "recommendation",
    "rank_metrics_from_scores": "recommendation",
    "evaluate_scene_graphs": "scene_graphs",
    "marginal_baseline": "scene_graphs",
    "is_planar_valid": "vun",
    "is_sbm_valid": "vun",
    "is_tree_valid": "vun",
    "vun_metrics": "vun",
}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        value = getattr(importlib.import_module(f"graphgen.evaluate.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'graphgen.evaluate' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = ["FCDStats", "NSPDK", "classification_metrics", "evaluate_graphs", "evaluate_lane_graphs",
           "evaluate_molecules", "evaluate_scene_graphs", "fcd_stats", "frechet_distance", "graph_mmd",
           "independent_lanes_baseline", "is_planar_valid", "is_sbm_valid", "is_tree_valid", "marginal_baseline",
           "mmd2", "nspdk_mmd", "orbit_counts", "rank_metrics", "rank_metrics_from_scores", "read_graphs",
           "vun_metrics"]
