"""Lane-graph metrics on hand-built lane graphs, invariances, the independent-lanes baseline, bad input and the CLI."""
from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphgen.data.lane_graphs import successor_rule, write_lane_graphs
from graphgen.evaluate.fcd import FCDStats, frechet_distance
from graphgen.evaluate.lane_graphs import (
    LaneMetricsConfig,
    discrete_curvatures,
    ego_distances,
    ego_lane,
    endpoint_gaps,
    evaluate_lane_graphs,
    frechet_1d,
    independent_lanes_baseline,
    keypoint_graph,
    lane_chains,
    lane_graph_arrays,
    overlapping_lanes,
    route_length,
    rule_lane_graph,
    successor_agreement,
    urban_planning_values,
)
from graphgen.evaluate.mmd import mmd2

P = 20


def line(a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    """A straight lane of P equally spaced points from a to b."""
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    return a_ + np.linspace(0.0, 1.0, P)[:, None] * (b_ - a_)


def arc(radius: float, sweep: float, centre: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """A circular arc of P points, counter-clockwise over ``sweep`` radians starting at angle -pi/2."""
    angles = -math.pi / 2 + np.linspace(0.0, sweep, P)
    return np.asarray(centre) + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def lg(lanes: list[np.ndarray], edges: list[tuple[int, int]] = ()) -> Data:
    pos = torch.tensor(np.stack(lanes) if lanes else np.zeros((0, P, 2)), dtype=torch.float64)
    return Data(pos=pos, edge_index=torch.tensor(list(edges), dtype=torch.long).reshape(-1, 2).T.contiguous(),
                num_nodes=len(lanes))


def arrays(graph: Data):
    return lane_graph_arrays(graph, "test graph")


def permuted(graph: Data, perm: list[int]) -> Data:
    """The same lane graph with its lanes reordered: new lane k is old lane perm[k]."""
    inverse = torch.argsort(torch.tensor(perm))
    return Data(pos=graph.pos[perm], edge_index=inverse[graph.edge_index], num_nodes=graph.num_nodes)


def planning(graph: Data, compact: bool = True) -> dict[str, list[float]]:
    return {k: sorted(v.tolist()) for k, v in urban_planning_values(keypoint_graph(arrays(graph), compact)).items()}


# three lanes meeting at (10, 0): A runs along the x axis through the ego, B goes on straight, C turns left
A, B, C = line((-10, 0), (10, 0)), line((10, 0), (30, 0)), line((10, 0), (10, 15))
Y_SPLIT = lg([A, B, C], [(0, 1), (0, 2)])


# ------------------------------------------------------------------------------------------------- route length


def test_route_length_hand_computed() -> None:
    # ego at x = 0 on A: 10 m of A left; then B (20 m) or C (15 m): the longest route is 10 + 20 = 30 m
    assert route_length(arrays(Y_SPLIT)) == pytest.approx(30.0)
    # without edges only the rest of the ego lane counts
    assert route_length(arrays(lg([A, B, C]))) == pytest.approx(10.0)


def test_route_length_starts_at_the_projection_and_takes_shortest_routes_in_metres() -> None:
    # the ego lane runs 1 m to the side of the ego, points 1 m apart: the projection is x = 0, 14 m of lane left
    lane = line((-5, 1), (14, 1))
    assert ego_lane(lane[None])[1] == pytest.approx(14.0)
    # from E to T either E -> X (2 m) -> Y (2 m) -> T or E -> Z (6 m) -> T. Shortest in metres: via X and Y, so the
    # route to T's end is 14 + 2 + 2 + 10 = 28, the longest of the shortest routes (Z alone: 14 + 6 = 20).
    # Fewest edges (Scenario Dreamer) would go via Z: 14 + 6 + 10 = 30.
    x, y = line((14, 1), (16, 1)), line((16, 1), (18, 1))
    z, t = line((14, 1), (14, 7)), line((18, 1), (28, 1))
    g = lg([lane, x, y, z, t], [(0, 1), (1, 2), (2, 4), (0, 3), (3, 4)])
    assert route_length(arrays(g)) == pytest.approx(28.0)


def test_ego_lane_ties_prefer_the_ego_heading_then_the_lower_index() -> None:
    along_x, along_y = line((-10, 0), (10, 0)), line((0, -10), (0, 30))  # both pass through the ego
    for graph in (lg([along_x, along_y]), lg([along_y, along_x])):
        assert route_length(arrays(graph)) == pytest.approx(10.0)       # the lane along +x is under the ego
    # a lane ending at the ego and its successor starting there: either choice gives the same route (0 + 20 = 20)
    before, after = line((-20, 0), (0, 0)), line((0, 0), (20, 0))
    assert route_length(arrays(lg([before, after], [(0, 1)]))) == pytest.approx(20.0)
    assert route_length(arrays(lg([after, before], [(1, 0)]))) == pytest.approx(20.0)


# ------------------------------------------------------------------------------------------------- endpoint gap


def test_endpoint_gap_hand_computed() -> None:
    # A ends at (10, 0); B' starts at (10.3, 0.4): gap 0.5; C starts at (10, 0): gap 0.
    # mean 0.25, sample std sqrt(((0.25)^2 + (0.25)^2) / 1) = 0.25 sqrt(2)
    shifted = line((10.3, 0.4), (30, 0))
    g = lg([A, shifted, C], [(0, 1), (0, 2)])
    assert endpoint_gaps(arrays(g)).tolist() == pytest.approx([0.5, 0.0])
    out = evaluate_lane_graphs([g], [g])
    assert out["endpoint_gap"] == pytest.approx(0.25)
    assert out["endpoint_gap_std"] == pytest.approx(0.25 * math.sqrt(2))


# ------------------------------------------------------------------------------------------ keypoint statistics


def test_keypoint_statistics_of_a_split() -> None:
    # keypoints: start(A); K = {end A, start B, start C}; end(B); end(C) -> 4 nodes, edges sA->K, K->eB, K->eC
    # degrees 1, 3, 1, 1; reach: sA 3, K 2, eB 0, eC 0; hops: sA->K 1, sA->eB 2, sA->eC 2, K->eB 1, K->eC 1
    expected = {"connectivity": [1, 1, 1, 3], "density": [4], "reach": [0, 0, 2, 3], "convenience": [1, 1, 1, 2, 2]}
    assert planning(Y_SPLIT) == expected
    assert planning(Y_SPLIT, compact=False) == expected  # no unbranched chain to summarise


def test_chains_are_summarised_into_one_lane() -> None:
    # A -> B -> B2 without branches: one lane for SLEDGE, so 2 keypoints and one edge
    chain = lg([A, B, line((30, 0), (40, 0))], [(0, 1), (1, 2)])
    assert lane_chains(3, arrays(chain).edges) == [[0, 1, 2]]
    assert planning(chain) == {"connectivity": [1, 1], "density": [2], "reach": [0, 1], "convenience": [1]}
    # lane by lane: a path of 4 keypoints; degrees 1, 2, 2, 1; reach 3, 2, 1, 0; hops 1, 2, 3 / 1, 2 / 1
    assert planning(chain, compact=False) == {"connectivity": [1, 1, 2, 2], "density": [4], "reach": [0, 1, 2, 3],
                                              "convenience": [1, 1, 1, 2, 2, 3]}


def test_splitting_a_lane_into_pieces_changes_no_compact_statistic() -> None:
    # Y_SPLIT with A cut into two pieces at x = 0 (A1 -> A2): same keypoint statistics and route length
    a1, a2 = line((-10, 0), (0, 0)), line((0, 0), (10, 0))
    pieces = lg([a1, a2, B, C], [(0, 1), (1, 2), (1, 3)])
    assert planning(pieces) == planning(Y_SPLIT)
    assert route_length(arrays(pieces)) == pytest.approx(route_length(arrays(Y_SPLIT)))
    assert planning(pieces, compact=False) != planning(Y_SPLIT, compact=False)


def test_keypoints_merge_transitively_and_rings_close() -> None:
    # edges 0->1, 2->1, 2->0 merge end0 ~ start1 ~ end2 ~ start0 into one keypoint K: lane 0 is a self-loop at K,
    # lane 1 goes K -> end1, lane 2 goes start2 -> K. Degrees: K 2 + 1 + 1 = 4, end1 1, start2 1.
    # reach: K {end1} 1, start2 {K, end1} 2, end1 0; hops K->end1 1, start2->K 1, start2->end1 2
    merged = lg([line((0, 0), (1, 0)), line((2, 0), (3, 0)), line((4, 0), (5, 0))], [(0, 1), (2, 1), (2, 0)])
    assert planning(merged) == {"connectivity": [1, 1, 4], "density": [3], "reach": [0, 1, 2],
                                "convenience": [1, 1, 2]}
    # a closed ring of three unbranched lanes is one lane whose end is its start: one keypoint with a self-loop
    ring = lg([line((0, 0), (1, 0)), line((1, 0), (1, 1)), line((1, 1), (0, 0))], [(0, 1), (1, 2), (2, 0)])
    assert lane_chains(3, arrays(ring).edges) == [[0, 1, 2]]
    assert planning(ring) == {"connectivity": [2], "density": [1], "reach": [0], "convenience": []}


def test_keypoint_graph_matches_a_connected_components_construction() -> None:
    # independent construction (lane by lane): endpoint nodes joined by an undirected "same point" edge for every
    # successor edge; keypoints are the connected components
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 9))
        edges = [(i, j) for i in range(n) for j in range(n) if i != j and rng.random() < 0.25]
        graph = lg([line((k, 0), (k, 1)) for k in range(n)], edges)
        same = nx.Graph()
        same.add_nodes_from([("s", i) for i in range(n)] + [("e", i) for i in range(n)])
        same.add_edges_from((("e", i), ("s", j)) for i, j in edges)
        component = {node: c for c, nodes in enumerate(nx.connected_components(same)) for node in nodes}
        expected = nx.DiGraph()
        expected.add_nodes_from(set(component.values()))
        expected.add_edges_from((component[("s", i)], component[("e", i)]) for i in range(n))
        ours = keypoint_graph(arrays(graph), compact_chains=False)
        assert nx.is_isomorphic(ours, expected)


def test_frechet_1d_hand_computed_and_against_the_matrix_formula() -> None:
    # x = [1, 3]: mean 2, sample variance 2; y = [2, 2]: mean 2, variance 0 -> sqrt(0 + (sqrt 2 - 0)^2) = sqrt 2
    assert frechet_1d(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == pytest.approx(math.sqrt(2))
    # shifted copies: only the means differ
    assert frechet_1d(np.array([0.0, 1.0, 5.0]), np.array([3.0, 4.0, 8.0])) == pytest.approx(3.0)
    assert math.isnan(frechet_1d(np.array([1.0]), np.array([1.0, 2.0])))
    rng = np.random.default_rng(1)
    x, y = rng.normal(1, 2, 50), rng.normal(0, 1, 70)

    def stats(v: np.ndarray) -> FCDStats:
        return FCDStats(mu=np.array([v.mean()]), sigma=np.array([[np.var(v, ddof=1)]]), count=len(v))

    assert frechet_1d(x, y) == pytest.approx(math.sqrt(frechet_distance(stats(x), stats(y))))


def test_urban_planning_distances_hand_computed() -> None:
    # generated: two Y splits -> connectivity [1,3,1,1] x 2: mean 1.5, sample variance (6 x 0.25 + 2 x 2.25) / 7
    # = 6/7; reference: two straight chains (summarised: 2 keypoints of degree 1) -> [1,1,1,1]: mean 1, variance 0
    # -> connectivity_fd = sqrt(0.5^2 + 6/7). density: [4, 4] vs [2, 2] -> |4 - 2| = 2.
    # reach: gen [3,2,0,0] x 2: mean 1.25, variance 2 x (1.75^2 + 0.75^2 + 2 x 1.25^2) / 7 = 13.5 / 7;
    # ref [1, 0] x 2: mean 0.5, variance 4 x 0.25 / 3 = 1/3 -> sqrt(0.75^2 + (sqrt(13.5/7) - sqrt(1/3))^2)
    # convenience: gen [1,2,2,1,1] x 2: mean 1.4, variance (6 x 0.16 + 4 x 0.36) / 9 = 4/15; ref [1, 1]: 1, 0
    chain = lg([A, B], [(0, 1)])
    out = evaluate_lane_graphs([Y_SPLIT, Y_SPLIT], [chain, chain])
    assert out["connectivity_fd"] == pytest.approx(math.sqrt(0.25 + 6 / 7))
    assert out["density_fd"] == pytest.approx(2.0)
    assert out["reach_fd"] == pytest.approx(math.sqrt(0.75 ** 2 + (math.sqrt(13.5 / 7) - math.sqrt(1 / 3)) ** 2))
    assert out["convenience_fd"] == pytest.approx(math.sqrt(0.4 ** 2 + 4 / 15))


# -------------------------------------------------------------------------------------------------- geometry


def test_discrete_curvature_hand_computed() -> None:
    # a circular arc of radius R: every turn is the step angle d, every segment 2 R sin(d / 2)
    radius, sweep = 10.0, math.pi / 2
    step = sweep / (P - 1)
    values, skipped = discrete_curvatures(arc(radius, sweep)[None])
    assert values == pytest.approx(np.full(P - 2, step / (2 * radius * math.sin(step / 2))))
    assert skipped == 0
    assert discrete_curvatures(line((0, 0), (5, 5))[None])[0] == pytest.approx(np.zeros(P - 2), abs=1e-12)
    # a right-angle corner between unit segments: turn pi/2 over a mean length of 1
    corner = np.array([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]])
    assert discrete_curvatures(corner)[0] == pytest.approx([math.pi / 2])
    # a repeated point: the two interior points next to the zero-length segment have no curvature
    repeated = np.array([[[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [2.0, 0.0]]])
    values, skipped = discrete_curvatures(repeated)
    assert len(values) == 0 and skipped == 2


def test_curvature_and_segment_length_mmd_hand_computed() -> None:
    # straight lanes put every curvature in bin 0; an arc of radius 10 puts them in bin [0.10, 0.11) (0.1000..).
    # Point masses 10 bins of 0.01 1/m apart: EMD = 0.1; sigma 0.05 -> k = exp(-0.1^2 / (2 0.05^2)) = e^-2,
    # MMD^2 = 1 + 1 - 2 e^-2
    straight = lg([line((0, 0), (19, 0))])
    curved = lg([arc(10.0, math.pi / 2)])
    assert evaluate_lane_graphs([straight], [curved])["curvature_mmd"] == pytest.approx(2 - 2 * math.exp(-2))
    # segment lengths 1.05 m (bin 10 of 0.1 m) vs 2.05 m (bin 20): EMD = 1 m, sigma 0.6 -> 2 - 2 exp(-1 / 0.72)
    short, long_ = lg([line((0, 0), (19 * 1.05, 0))]), lg([line((0, 0), (19 * 2.05, 0))])
    assert evaluate_lane_graphs([short], [long_])["segment_length_mmd"] == pytest.approx(2 - 2 * math.exp(-1 / 0.72))


def test_histogram_mmd_blocks_equal_mmd2(monkeypatch) -> None:
    import graphgen.evaluate.lane_graphs as module

    rng = np.random.default_rng(2)
    gen = [lg([line((0, 0), (rng.uniform(5, 60), rng.uniform(-5, 5))) for _ in range(3)]) for _ in range(7)]
    ref = [lg([arc(rng.uniform(5, 30), rng.uniform(0.2, 2))]) for _ in range(5)]
    cfg = LaneMetricsConfig()
    hist = [np.histogram(np.clip(np.linalg.norm(np.diff(g.pos.numpy(), axis=1), axis=-1).ravel(), 0, 6), bins=60,
                         range=(0, 6))[0] for g in gen + ref]
    expected = mmd2(hist[:7], hist[7:], "gaussian_emd", sigma=cfg.segment_sigma, distance_scaling=10.0)
    whole = evaluate_lane_graphs(gen, ref)["segment_length_mmd"]
    monkeypatch.setattr(module, "_MAX_GRAM_BLOCK", 3)  # one row per block
    assert whole == pytest.approx(expected, abs=1e-12)
    assert evaluate_lane_graphs(gen, ref)["segment_length_mmd"] == pytest.approx(whole, abs=1e-12)


def test_overlap_hand_computed() -> None:
    # lane, an exact copy, a reversed copy (opposite direction), a neighbour 3.5 m away and a lane leaving the
    # lane's start at 45 degrees (only its first two points are within 1 m): only the lane and its copy overlap
    lane = line((0, 0), (19, 0))
    lanes = [lane, lane.copy(), lane[::-1].copy(), line((0, 3.5), (19, 3.5)), line((0, 0), (19, 19))]
    assert overlapping_lanes(np.stack(lanes)).tolist() == [True, True, False, False, False]
    out = evaluate_lane_graphs([lg(lanes)], [lg([lane])])
    assert out["overlap_rate"] == pytest.approx(2 / 5)
    assert out["overlap_rate_reference"] == 0.0
    # a lane lying 0.2 m beside the first 7 m of another: all of its points are on the long lane; of the long lane's
    # points, x = 1..6 are on the short one (6 of 20); x = 0 and x = 7 are not (their nearest points are the short
    # lane's start and end: they lie beyond it) -> only the short lane overlaps at fraction 0.5; both at 0.3
    long_, part = line((0, 0), (19, 0)), line((0, 0.2), (7, 0.2))
    assert overlapping_lanes(np.stack([long_, part])).tolist() == [False, True]
    assert overlapping_lanes(np.stack([long_, part]), fraction=0.3).tolist() == [True, True]
    assert overlapping_lanes(np.stack([long_, part]), fraction=0.31).tolist() == [False, True]
    # a 1.5 m successor: its points are within 1 m of the long lane's end point, but beyond it, so not on it
    assert overlapping_lanes(np.stack([long_, line((19, 0), (20.5, 0))])).tolist() == [False, False]


def test_successor_agreement_hand_computed() -> None:
    # A -> B (rule: gap 0, straight: yes), A -> C (turn of 90 degrees: rule says no). The rule also finds A -> D
    # (D starts 0.5 m after A's end, heading 14 degrees), which is not stored. both = 1, stored = 2, rule = 2:
    # precision 1/2, recall 1/2, F1 = 2 x 1 / (2 + 2) = 1/2
    d = line((10.5, 0), (30, 5))
    g = lg([A, B, C, d], [(0, 1), (0, 2)])
    rule = successor_rule(g.pos.numpy())
    assert sorted(map(tuple, np.argwhere(rule).tolist())) == [(0, 1), (0, 3)]
    out = evaluate_lane_graphs([g], [g])
    assert (out["successor_precision"], out["successor_recall"], out["successor_agreement"]) == \
        pytest.approx((0.5, 0.5, 0.5))
    assert out["successor_agreement_reference"] == pytest.approx(0.5)
    assert successor_agreement([g]) == pytest.approx(0.5)                   # the same, without a reference set


# -------------------------------------------------------------------------------------------- whole evaluator


def _scenes(seed: int, count: int) -> list[Data]:
    """Random lane graphs with rule edges: a few straight and curved lanes chained end to start."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        lanes, end = [], rng.uniform(-20, 0, 2)
        for _ in range(int(rng.integers(1, 7))):
            if rng.random() < 0.3:
                end = rng.uniform(-30, 30, 2)  # start a new chain elsewhere
            heading = rng.uniform(-math.pi, math.pi)
            lane = line(tuple(end), tuple(end + rng.uniform(5, 25) * np.array([math.cos(heading),
                                                                               math.sin(heading)])))
            lanes.append(lane)
            end = lane[-1]
        out.append(rule_lane_graph(torch.tensor(np.stack(lanes))))
    return out


def test_identical_sets_score_zero_distance() -> None:
    graphs = _scenes(3, 12)
    out = evaluate_lane_graphs(graphs, graphs)
    for key in ("connectivity_fd", "density_fd", "reach_fd", "convenience_fd", "curvature_mmd", "segment_length_mmd"):
        assert out[key] == pytest.approx(0.0, abs=1e-9), key
    assert out["route_length"] == pytest.approx(out["route_length_reference"])


def test_lane_order_does_not_change_any_metric() -> None:
    graphs, reference = _scenes(4, 10), _scenes(5, 8)
    rng = np.random.default_rng(6)
    shuffled = [permuted(g, rng.permutation(g.num_nodes).tolist()) for g in graphs]
    before, after = evaluate_lane_graphs(graphs, reference), evaluate_lane_graphs(shuffled, reference)
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert after[key] == pytest.approx(value, nan_ok=True), key


def test_empty_graphs_and_graphs_without_edges_do_not_crash() -> None:
    empty, lone = lg([]), lg([line((-5, 0), (5, 0))])
    out = evaluate_lane_graphs([empty], _scenes(7, 3))
    for key in ("route_length", "endpoint_gap", "overlap_rate", "successor_agreement", "curvature_mmd",
                "segment_length_mmd", "connectivity_fd", "density_fd"):
        assert math.isnan(out[key]), key  # one graph without lanes: nothing to measure, one density value
    assert out["num_empty"] == 1 and out["mean_lanes"] == 0
    out = evaluate_lane_graphs([lone, lone], [lone, empty])
    assert out["route_length"] == pytest.approx(5.0) and out["route_length_std"] == 0.0  # equal routes
    assert math.isnan(out["endpoint_gap"]) and out["num_without_edges"] == 2
    assert math.isnan(out["successor_precision"]) and math.isnan(out["successor_agreement"])  # no edge either way
    assert out["density_fd"] == pytest.approx(math.sqrt(1 + (0 - math.sqrt(2)) ** 2))  # [2, 2] vs [2, 0]


# -------------------------------------------------------------------------------------------------- baseline


def test_independent_lanes_baseline_properties() -> None:
    train = _scenes(8, 15)
    pool = {tuple(np.round(lane.numpy(), 5).ravel()) for g in train for lane in g.pos}
    counts = {g.num_nodes for g in train}
    graphs = independent_lanes_baseline(train, 30, generator=torch.Generator().manual_seed(0))
    assert len(graphs) == 30
    for g in graphs:
        assert g.num_nodes in counts and g.pos.shape == (g.num_nodes, P, 2)
        assert all(tuple(np.round(lane.numpy(), 5).ravel()) in pool for lane in g.pos)  # every lane is a train lane
        rule = successor_rule(g.pos.double().numpy())
        assert sorted(map(tuple, g.edge_index.T.tolist())) == sorted(map(tuple, np.argwhere(rule).tolist()))
        assert (np.diff(ego_distances(g.pos.double().numpy())) >= 0).all()  # nearest lane first
    again = independent_lanes_baseline(train, 30, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a.pos, b.pos) and torch.equal(a.edge_index, b.edge_index) for a, b in zip(graphs, again))
    other = independent_lanes_baseline(train, 30, generator=torch.Generator().manual_seed(1))
    assert any(a.pos.shape != b.pos.shape or not torch.equal(a.pos, b.pos) for a, b in zip(graphs, other))
    # lanes drawn from a single scene A -> B: A and B together (probability 1/2 with two lanes) get their rule edge
    chain = [lg([A, B], [(0, 1)])] * 3
    drawn = independent_lanes_baseline(chain, 20, generator=torch.Generator().manual_seed(0))
    assert sum(g.edge_index.shape[1] for g in drawn) > 0
    assert evaluate_lane_graphs(drawn, chain)["successor_agreement"] == 1.0  # edges are the rule's by construction
    assert independent_lanes_baseline(train, 0, generator=torch.Generator()) == []
    with pytest.raises(ValueError, match="at least one lane"):
        independent_lanes_baseline([lg([])], 3, generator=torch.Generator())


def test_rule_lane_graph_orders_lanes_nearest_first() -> None:
    far, near = line((20, 5), (30, 5)), line((-5, 1), (5, 1))
    g = rule_lane_graph(torch.tensor(np.stack([far, near])))
    assert torch.allclose(g.pos[0].double(), torch.tensor(near)) and g.edge_index.shape == (2, 0)


# ------------------------------------------------------------------------------------------------- bad input


def test_bad_input_gives_clear_errors() -> None:
    good = Y_SPLIT
    with pytest.raises(ValueError, match="no generated graphs"):
        evaluate_lane_graphs([], [good])
    with pytest.raises(ValueError, match="no reference graphs"):
        evaluate_lane_graphs([good], [])
    with pytest.raises(ValueError, match=r"generated graph 1: a lane graph needs 'pos'"):
        evaluate_lane_graphs([good, Data(edge_index=torch.zeros(2, 0, dtype=torch.long))], [good])
    with pytest.raises(ValueError, match=r"generated graph 0: 'pos' has shape \(3, 20\)"):
        evaluate_lane_graphs([Data(pos=torch.zeros(3, 20))], [good])
    bad = good.pos.clone()
    bad[2, 5, 1] = float("nan")
    with pytest.raises(ValueError, match="reference graph 0: lane 2 has a non-finite point"):
        evaluate_lane_graphs([good], [Data(pos=bad, edge_index=good.edge_index)])
    for edges, message in (([(0, 3)], r"edge 0 \(0, 3\) has a lane index outside 0..2"),
                           ([(0, 1), (1, 1)], r"edge 1 \(1, 1\) is a self edge"),
                           ([(0, 1), (0, 2), (0, 1)], r"edge 2 \(0, 1\) repeats an earlier edge")):
        with pytest.raises(ValueError, match=f"generated graph 0: {message}"):
            evaluate_lane_graphs([lg([A, B, C], edges)], [good])
    with pytest.raises(ValueError, match=r"'edge_index' has shape \(3, 1\)"):
        evaluate_lane_graphs([Data(pos=good.pos, edge_index=torch.zeros(3, 1, dtype=torch.long))], [good])


# ------------------------------------------------------------------------------------------------------- CLI


def test_cli_lanes(shared_data, tmp_path, capsys) -> None:
    from graphgen.cli import main
    from graphgen.data.lane_graphs import read_lane_graphs
    from graphgen.data.registry import load_dataset

    write_lane_graphs([Data(pos=g.pos.float(), edge_index=g.edge_index, num_nodes=g.num_nodes)
                       for g in _scenes(9, 6)], tmp_path / "gen.json")
    code = main(["evaluate", "lanes", str(tmp_path / "gen.json"), "--dataset", "lanes",
                 "--data-dir", str(shared_data), "--json", str(tmp_path / "scores.json")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "lanes: 6 generated" in printed and "route_length" in printed and "convenience_fd" in printed
    scores = json.loads((tmp_path / "scores.json").read_text())
    test = list(load_dataset("lanes", "test", data_dir=str(shared_data)))
    expected = evaluate_lane_graphs(read_lane_graphs(tmp_path / "gen.json"), test)
    assert scores.keys() == expected.keys()
    for key, value in expected.items():
        assert (math.isnan(value) and scores[key] == "nan") or scores[key] == pytest.approx(value), key


def test_cli_lanes_bad_file(shared_data, tmp_path) -> None:
    from graphgen.cli import main

    write_lane_graphs([Data(pos=g.pos.float(), edge_index=g.edge_index, num_nodes=g.num_nodes)
                       for g in _scenes(10, 2)], tmp_path / "gen.json")
    doc = json.loads((tmp_path / "gen.json").read_text())
    doc["graphs"][1]["lanes"][0] = doc["graphs"][1]["lanes"][0][:5]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="graph 1, lane 0"):
        main(["evaluate", "lanes", str(tmp_path / "bad.json"), "--dataset", "lanes", "--data-dir", str(shared_data)])
    doc["graphs"] = []
    (tmp_path / "none.json").write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="no lane graphs found"):
        main(["evaluate", "lanes", str(tmp_path / "none.json"), "--dataset", "lanes", "--data-dir", str(shared_data)])


def test_real_test_split_against_itself(shared_data) -> None:
    from graphgen.data.registry import load_dataset

    test = list(load_dataset("lanes", "test", data_dir=str(shared_data)))[:200]
    out = evaluate_lane_graphs(test, test)
    for key in ("connectivity_fd", "density_fd", "reach_fd", "convenience_fd", "curvature_mmd", "segment_length_mmd"):
        assert out[key] == pytest.approx(0.0, abs=1e-9), key
    assert out["route_length"] > 0 and out["num_empty"] == 0
