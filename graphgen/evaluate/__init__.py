"""Evaluators on the published protocols: molecules (GDSS, DiGress, MOSES), generic graphs (GDSS, SPECTRE), scene
graphs (DiffuseSG), lane graphs (SLEDGE), recommendation and node classification (DiffGraph)."""
from graphgen.evaluate.molecules import evaluate_molecules  # molecule protocols (GDSS, DiGress, MOSES)
from graphgen.evaluate.nspdk import NSPDK, nspdk_mmd
from graphgen.evaluate.fcd import FCDStats, fcd_stats, frechet_distance
from graphgen.evaluate.graphs import evaluate_graphs, read_graphs  # generic graphs (GDSS, SPECTRE/DiGress)
from graphgen.evaluate.lane_graphs import evaluate_lane_graphs, independent_lanes_baseline  # lane graphs (SLEDGE)
from graphgen.evaluate.mmd import graph_mmd, mmd2
from graphgen.evaluate.node_classification import classification_metrics  # Micro/Macro-F1, AUC (DiffGraph_NC)
from graphgen.evaluate.orbits import orbit_counts
from graphgen.evaluate.recommendation import rank_metrics, rank_metrics_from_scores  # Recall/NDCG@K (DiffGraph-Rec)
from graphgen.evaluate.scene_graphs import evaluate_scene_graphs, marginal_baseline  # scene graphs (DiffuseSG)
from graphgen.evaluate.vun import is_planar_valid, is_sbm_valid, is_tree_valid, vun_metrics

__all__ = ["FCDStats", "NSPDK", "classification_metrics", "evaluate_graphs", "evaluate_lane_graphs",
           "evaluate_molecules", "evaluate_scene_graphs", "fcd_stats", "frechet_distance", "graph_mmd",
           "independent_lanes_baseline", "is_planar_valid", "is_sbm_valid", "is_tree_valid", "marginal_baseline",
           "mmd2", "nspdk_mmd", "orbit_counts", "rank_metrics", "rank_metrics_from_scores", "read_graphs",
           "vun_metrics"]
