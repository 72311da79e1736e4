
from graphgen.evaluate.molecules import evaluate_molecules  # molecule protocols (GDSS, DiGress, MOSES)
from graphgen.evaluate.nspdk import NSPDK, nspdk_mmd
from graphgen.evaluate.fcd import FCDStats, fcd_stats, frechet_distance
from graphgen.evaluate.graphs import evaluate_graphs, read_graphs  # generic graphs (GDSS, SPECTRE/DiGress)
from graphgen.evaluate.mmd import graph_mmd, mmd2
from graphgen.evaluate.orbits import orbit_counts
from graphgen.evaluate.vun import is_planar_valid, is_sbm_valid, is_tree_valid, vun_metrics
