"""Scene-graph metrics on hand-computed cases, invariances, the marginal baseline, bad input and the CLI."""
from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from graphgen.data.scene_graphs import sg2im_relations, write_scene_graphs, xywh_to_corners
from graphgen.evaluate.scene_graphs import (
    IOU_THRESHOLDS,
    box_f1_matrix,
    complete_scene_graph,
    degree_histogram,
    evaluate_scene_graphs,
    layout_alignment,
    layout_overlap,
    marginal_baseline,
    pairwise_iou,
    relation_consistency,
    scene_graph_arrays,
)

LEFT_OF, RIGHT_OF, ABOVE, BELOW = 1, 2, 3, 4


def sg(classes: list[int], boxes: list[list[float]] | None = None,
       relations: list[tuple[int, int, int]] = ()) -> Data:
    """A scene graph from classes, (x_c, y_c, w, h) boxes (default: unit boxes) and (subject, object, class)."""
    n = len(classes)
    box = torch.tensor(boxes if boxes is not None else [[0.5, 0.5, 1.0, 1.0]] * n, dtype=torch.float32)
    return Data(x=torch.tensor(classes, dtype=torch.long), box=box.reshape(n, 4),
                edge_index=torch.tensor([[s for s, _, _ in relations], [o for _, o, _ in relations]],
                                        dtype=torch.long).reshape(2, -1),
                edge_attr=torch.tensor([p for _, _, p in relations], dtype=torch.long), num_nodes=n)


def corners_to_xywh(corners: list[list[float]]) -> list[list[float]]:
    return [[(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0] for x0, y0, x1, y1 in corners]


def arrays(graph: Data):
    return scene_graph_arrays(graph, "test graph")


def permuted(graph: Data, perm: list[int]) -> Data:
    """The same scene graph with its objects reordered: new object k is old object perm[k]."""
    inverse = torch.argsort(torch.tensor(perm))
    return Data(x=graph.x[perm], box=graph.box[perm], edge_index=inverse[graph.edge_index],
                edge_attr=graph.edge_attr.clone(), num_nodes=graph.num_nodes)


# ------------------------------------------------------------------------------------------------------ MMDs


def test_degree_histogram_is_undirected_without_isolated_objects() -> None:
    # relations 0->1, 1->0, 1->2 give undirected edges {0,1}, {1,2}: degrees 1, 2, 1; object 3 is isolated and
    # removed -> counts of degree 0, 1, 2 = [0, 2, 1]
    g = sg([0, 0, 0, 0], relations=[(0, 1, LEFT_OF), (1, 0, RIGHT_OF), (1, 2, ABOVE)])
    assert degree_histogram(arrays(g)).tolist() == [0, 2, 1]
    # no relation: DiffuseSG turns the graph into one isolated node -> [1]
    assert degree_histogram(arrays(sg([0, 1]))).tolist() == [1]
    assert degree_histogram(arrays(sg([]))).tolist() == [1]


def test_degree_mmd_hand_computed() -> None:
    # generated pmf a = [0, 2/3, 1/3] (graph above), reference b = [0, 1] (one pair, both directions: degrees 1, 1)
    # ||a - b||^2 = 1/9 + 1/9 = 2/9; biased MMD^2 = k(a,a) + k(b,b) - 2 k(a,b) = 2 - 2 exp(-(2/9)/2) = 2 - 2 e^(-1/9)
    gen = sg([0, 0, 0, 0], relations=[(0, 1, LEFT_OF), (1, 0, RIGHT_OF), (1, 2, ABOVE)])
    ref = sg([0, 0], relations=[(0, 1, LEFT_OF), (1, 0, RIGHT_OF)])
    out = evaluate_scene_graphs([gen], [ref])
    assert out["degree_mmd"] == pytest.approx(2 - 2 * math.exp(-1 / 9))


def test_degree_mmd_matches_diffusesg_networkx_pipeline() -> None:
    # independent check: DiffuseSG's adjs_to_graphs (networkx from the relation matrix, self-loops and isolated
    # nodes removed, an empty graph becomes one node) + degree_histogram + normalised Gaussian-kernel MMD, double loop
    rng = np.random.default_rng(0)

    def random_graph() -> Data:
        n = int(rng.integers(0, 7))
        rel = [(s, o, int(rng.integers(1, 7))) for s in range(n) for o in range(n) if s != o and rng.random() < 0.3]
        return sg([0] * n, relations=rel)

    gen, ref = [random_graph() for _ in range(7)], [random_graph() for _ in range(5)]

    def nx_hist(g: Data) -> np.ndarray:
        a = np.zeros((g.num_nodes, g.num_nodes))
        a[g.edge_index[0].numpy(), g.edge_index[1].numpy()] = g.edge_attr.numpy()
        h = nx.from_numpy_array(a)
        h.remove_nodes_from(list(nx.isolates(h)))
        if h.number_of_nodes() == 0:
            h.add_node(1)
        hist = np.array(nx.degree_histogram(h), float)
        return hist / hist.sum()

    def k(x: np.ndarray, y: np.ndarray) -> float:
        length = max(len(x), len(y))
        x, y = np.pad(x, (0, length - len(x))), np.pad(y, (0, length - len(y)))
        return math.exp(-((x - y) ** 2).sum() / 2)

    def disc(xs: list, ys: list) -> float:
        return sum(k(x, y) for x in xs for y in ys) / (len(xs) * len(ys))

    hg, hr = [nx_hist(g) for g in gen], [nx_hist(g) for g in ref]
    expected = disc(hg, hg) + disc(hr, hr) - 2 * disc(hg, hr)
    assert evaluate_scene_graphs(gen, ref)["degree_mmd"] == pytest.approx(expected, abs=1e-12)


def test_node_type_mmd_hand_computed_and_empty_graph_kept_as_zeros() -> None:
    # classes [0, 0, 1] -> pmf [2/3, 1/3, 0, ...]; reference [0] -> [1, 0, ...]: ||d||^2 = 2/9 -> 2 - 2 e^(-1/9)
    assert evaluate_scene_graphs([sg([0, 0, 1])], [sg([0])])["node_type_mmd"] == pytest.approx(2 - 2 * math.exp(-1 / 9))
    # an empty generated graph keeps an all-zero histogram (DiffuseSG): ||0 - e_0||^2 = 1 -> 2 - 2 e^(-1/2)
    assert evaluate_scene_graphs([sg([])], [sg([0])])["node_type_mmd"] == pytest.approx(2 - 2 * math.exp(-0.5))


def test_edge_type_mmd_hand_computed_and_graphs_without_relations_left_out() -> None:
    # generated: two "left of" -> pmf e_1; reference: one "left of", one "right of" -> [1/2, 1/2, 0, ...]
    # ||d||^2 = 1/4 + 1/4 = 1/2 -> 2 - 2 e^(-1/4); a generated graph without relations is left out and counted
    gen = [sg([0, 1, 2], relations=[(0, 1, LEFT_OF), (0, 2, LEFT_OF)]), sg([0, 1])]
    ref = [sg([0, 1], relations=[(0, 1, LEFT_OF), (1, 0, RIGHT_OF)])]
    out = evaluate_scene_graphs(gen, ref)
    assert out["edge_type_mmd"] == pytest.approx(2 - 2 * math.exp(-0.25))
    assert out["num_without_relations"] == 1


# --------------------------------------------------------------------------------------------------- triplets


def test_triplet_tv_and_novelty_hand_computed() -> None:
    # generated triplets (subject class, predicate, object class): (0, left, 1) x2 and (1, right, 0) x2 -> p = 1/2, 1/2
    # reference: (0, left, 1), (1, below, 0) -> q = 1/2, 1/2
    # TV = 1/2 (|1/2 - 1/2| + |1/2 - 0| + |0 - 1/2|) = 1/2 (DiffuseSG's "full TV" would print the L1 sum, 1)
    # train holds only (0, left, 1): the two (1, right, 0) instances of four are novel -> 1/2
    pair = sg([0, 1], relations=[(0, 1, LEFT_OF), (1, 0, RIGHT_OF)])
    ref = sg([0, 1], relations=[(0, 1, LEFT_OF), (1, 0, BELOW)])
    train = sg([0, 1], relations=[(0, 1, LEFT_OF)])
    out = evaluate_scene_graphs([pair, pair], [ref], [train])
    assert out["triplet_tv"] == pytest.approx(0.5)
    assert out["triplet_novelty"] == pytest.approx(0.5)
    assert "triplet_novelty" not in evaluate_scene_graphs([pair], [ref])  # only with train


# ----------------------------------------------------------------------------------------------------- box F1


def test_pairwise_iou_hand_computed() -> None:
    # [0,0,0.5,0.5] vs [0.25,0.25,0.75,0.75]: intersection 0.0625, union 0.25 + 0.25 - 0.0625 = 0.4375 -> 1/7
    a = np.array([[0, 0, 0.5, 0.5]])
    b = np.array([[0.25, 0.25, 0.75, 0.75], [0.6, 0.6, 0.7, 0.7], [0.2, 0.2, 0.2, 0.2]])
    assert pairwise_iou(a, b) == pytest.approx(np.array([[1 / 7, 0.0, 0.0]]))


def test_box_f1_hand_computed_single_boxes() -> None:
    # G: class 0 boxes A0 = [0,0,.5,.5] and A1 = [.5,.5,1,1], class 1 box [0,0,1,1]; R: class 0 box B0 = [0,0,.5,.22],
    # class 2 box. IoU(A0, B0) = 0.11 / 0.25 = 0.44, IoU(A1, B0) = 0 -> one match at the 8 thresholds 0.05..0.40,
    # none at 0.45, 0.50. F1_0 = 2 * 1 / (2 + 1) = 2/3; classes 1, 2 score 0; union of classes = 3.
    # pair F1 = (8/10) * (2/3) / 3 = 16/90
    g = sg([0, 0, 1], corners_to_xywh([[0, 0, .5, .5], [.5, .5, 1, 1], [0, 0, 1, 1]]))
    r = sg([0, 2], corners_to_xywh([[0, 0, .5, .22], [.6, .6, .9, .9]]))
    f1 = box_f1_matrix([arrays(g)], [arrays(r)])
    assert f1[0, 0] == pytest.approx(16 / 90)


def test_box_f1_uses_a_maximum_matching() -> None:
    # boxes of full height, x intervals: reference Y1 = [0, .4], Y2 = [.4, 1]; generated X1 = [.1, .5], X2 = [0, .3]
    # IoU(X1, Y1) = .3/.5 = .6, IoU(X1, Y2) = .1/.9 = .111, IoU(X2, Y1) = .3/.4 = .75, IoU(X2, Y2) = 0
    # t = .05, .10: X1-Y2 and X2-Y1 both match -> M = 2, F1 = 2*2/4 = 1 (matching X1 to its best box Y1 first
    # would leave X2 unmatched); t = .15 .. .50: only Y1 is reachable -> M = 1, F1 = 1/2. Mean = (2 + 8 * .5)/10 = .6
    g = sg([0, 0], corners_to_xywh([[.1, 0, .5, 1], [0, 0, .3, 1]]))
    r = sg([0, 0], corners_to_xywh([[0, 0, .4, 1], [.4, 0, 1, 1]]))
    assert box_f1_matrix([arrays(g)], [arrays(r)])[0, 0] == pytest.approx(0.6)


def test_box_f1_edge_cases_and_aggregates() -> None:
    g = sg([3, 5], corners_to_xywh([[0, 0, .5, .5], [.2, .2, .9, .9]]))
    empty = sg([])
    other_class = sg([7], corners_to_xywh([[0, 0, .5, .5]]))
    f1 = box_f1_matrix([arrays(g), arrays(empty)], [arrays(g), arrays(other_class), arrays(empty)])
    # identical graph: every box matches itself at every threshold -> 1; no shared class -> 0 (as DiffuseSG);
    # an empty graph against anything -> 0
    assert f1 == pytest.approx(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    out = evaluate_scene_graphs([g, empty], [g, other_class, empty])
    assert out["box_f1"] == pytest.approx(1 / 6)  # mean over the 6 pairs
    assert out["box_max_f1"] == pytest.approx(0.5)  # (1 + 0) / 2
    assert len(IOU_THRESHOLDS) == 10 and IOU_THRESHOLDS[0] == pytest.approx(0.05)
    assert IOU_THRESHOLDS[-1] == pytest.approx(0.5)


def test_box_f1_chunked_equals_unchunked(monkeypatch) -> None:
    import graphgen.evaluate.scene_graphs as module

    rng = np.random.default_rng(3)

    def random_graph() -> Data:
        n = int(rng.integers(1, 6))
        xy = rng.uniform(0.2, 0.8, (n, 2))
        wh = rng.uniform(0.1, 0.5, (n, 2))
        return sg(rng.integers(0, 3, n).tolist(), np.concatenate([xy, wh], 1).tolist())

    gen = [arrays(random_graph()) for _ in range(12)]
    ref = [arrays(random_graph()) for _ in range(9)]
    whole = box_f1_matrix(gen, ref)
    monkeypatch.setattr(module, "_MAX_IOU_BLOCK", 7)  # forces chunks of a few generated graphs
    assert box_f1_matrix(gen, ref) == pytest.approx(whole, abs=1e-12)
    assert whole.max() > 0


# ----------------------------------------------------------------------------------------------------- layout


def test_overlap_hand_computed() -> None:
    # pairs: [0,0,.5,.5] & [.25,.25,.75,.75] intersect in .25 x .25 = .0625; the third box touches neither -> .0625
    three = np.array([[0, 0, .5, .5], [.25, .25, .75, .75], [.9, .9, 1, 1]])
    assert layout_overlap(three) == pytest.approx(0.0625)
    assert layout_overlap(three[2:]) != layout_overlap(three[2:])  # one box: undefined (nan)
    # averaged over layouts with >= 2 objects; a layout without intersecting pairs counts 0 (DiffuseSG drops it):
    # (.0625 + 0) / 2; the single-object graph is left out and counted
    disjoint = np.array([[0, 0, .1, .1], [.5, .5, .6, .6]])
    graphs = [sg([0] * len(c), corners_to_xywh(c.tolist())) for c in (three, disjoint, three[:1])]
    out = evaluate_scene_graphs(graphs, graphs)
    assert out["overlap"] == pytest.approx(0.03125)
    assert out["layouts_skipped"] == 1
    assert out["overlap_reference"] == pytest.approx(out["overlap"])


def test_alignment_hand_computed() -> None:
    # a = [0,0,.2,.2], b = [0,.5,.4,.9], c = [.6,.1,1,.3]; centres (.1,.1), (.2,.7), (.8,.2)
    # d = min(left, centre, right), each the mean of |dx| and |dy| of that reference point:
    #   a-b: left (0 + .5)/2 = .25, right (.2 + .7)/2 = .45, centre (.1 + .6)/2 = .35 -> .25
    #   a-c: left (.6 + .1)/2 = .35, right (.8 + .1)/2 = .45, centre (.7 + .1)/2 = .40 -> .35
    #   b-c: left (.6 + .4)/2 = .50, right (.6 + .6)/2 = .60, centre (.6 + .5)/2 = .55 -> .50
    # per box min over the others: a .25, b .25, c .35 -> sum .85
    layout = np.array([[0, 0, .2, .2], [0, .5, .4, .9], [.6, .1, 1, .3]])
    assert layout_alignment(layout) == pytest.approx(0.85)
    graph = sg([0, 1, 2], corners_to_xywh(layout.tolist()))
    assert evaluate_scene_graphs([graph], [graph])["alignment"] == pytest.approx(0.85)


# ------------------------------------------------------------------------------------------ relation consistency


def test_relation_consistency_hand_computed() -> None:
    # object 0 is centred at (.25, .5), object 1 at (.75, .5): the rule says 0 left of 1 and 1 right of 0.
    # relations (0 -> 1 left of) agrees, (1 -> 0 above) does not -> 1/2; a graph without relations adds nothing
    boxes = [[.25, .5, .2, .2], [.75, .5, .2, .2]]
    g = sg([0, 1], boxes, relations=[(0, 1, LEFT_OF), (1, 0, ABOVE)])
    out = evaluate_scene_graphs([g, sg([0])], [g])
    assert out["relation_consistency"] == pytest.approx(0.5)
    assert out["relation_consistency_reference"] == pytest.approx(0.5)
    assert relation_consistency([g, sg([0])]) == pytest.approx(0.5)          # the same, without a reference set
    assert math.isnan(relation_consistency([sg([0])]))                        # no relation: undefined


# ------------------------------------------------------------------------------------------------ invariances


def _random_scene_graphs(seed: int, count: int) -> list[Data]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        n = int(torch.randint(2, 7, (1,), generator=gen))
        x = torch.randint(0, 4, (n,), generator=gen)
        box = torch.cat([torch.rand(n, 2, generator=gen) * 0.6 + 0.2, torch.rand(n, 2, generator=gen) * 0.4 + 0.05],
                        dim=1)
        g = complete_scene_graph(x, box)
        keep = torch.rand(g.edge_attr.shape, generator=gen) < 0.7  # a generator need not give every pair
        g.edge_index, g.edge_attr = g.edge_index[:, keep], g.edge_attr[keep]
        out.append(g)
    return out


def test_identical_sets_score_zero_distance() -> None:
    graphs = _random_scene_graphs(0, 8)
    out = evaluate_scene_graphs(graphs, graphs, graphs)
    for key in ("degree_mmd", "node_type_mmd", "edge_type_mmd", "triplet_tv", "triplet_novelty"):
        assert out[key] == pytest.approx(0.0, abs=1e-12), key
    assert out["box_max_f1"] == pytest.approx(1.0)
    assert out["relation_consistency"] == pytest.approx(1.0)
    other = evaluate_scene_graphs(graphs, _random_scene_graphs(1, 8))
    assert other["node_type_mmd"] > 0 and other["triplet_tv"] > 0


def test_node_order_does_not_change_any_metric() -> None:
    gen, ref, train = _random_scene_graphs(2, 6), _random_scene_graphs(3, 5), _random_scene_graphs(4, 5)
    rng = np.random.default_rng(0)
    shuffled = [permuted(g, rng.permutation(g.num_nodes).tolist()) for g in gen]
    assert any(not torch.equal(a.x, b.x) for a, b in zip(gen, shuffled))
    before, after = evaluate_scene_graphs(gen, ref, train), evaluate_scene_graphs(shuffled, ref, train)
    assert before.keys() == after.keys()
    for key in before:
        assert after[key] == pytest.approx(before[key], abs=1e-12), key


def test_empty_graphs_and_graphs_without_relations_do_not_crash() -> None:
    ref = _random_scene_graphs(5, 4)
    out = evaluate_scene_graphs([sg([]), sg([3, 4], [[.3, .3, .2, .2], [.7, .7, .2, .2]])], ref, ref)
    assert out["num_empty"] == 1 and out["num_without_relations"] == 2 and out["mean_relations"] == 0
    # undefined without generated relations: nan, and said so by the counts
    for key in ("edge_type_mmd", "triplet_tv", "triplet_novelty", "relation_consistency"):
        assert math.isnan(out[key]), key
    for key in ("degree_mmd", "node_type_mmd", "box_f1", "overlap", "alignment"):
        assert math.isfinite(out[key]), key
    assert out["layouts_skipped"] == 1


# ---------------------------------------------------------------------------------------------------- baseline


def test_marginal_baseline_properties() -> None:
    train = [sg([3, 7], [[.2, .2, .1, .1], [.6, .4, .3, .2]]),
             sg([7, 7, 3, 3, 3], [[.5, .5, .2, .4], [.1, .9, .1, .1], [.8, .8, .3, .3], [.3, .6, .2, .2],
                                  [.5, .2, .6, .3]])]
    graphs = marginal_baseline(train, 60, generator=torch.Generator().manual_seed(0))
    assert len(graphs) == 60
    train_boxes = {tuple(b) for g in train for b in g.box.tolist()}
    sizes = {g.num_nodes for g in graphs}
    assert sizes == {2, 5}  # the support of the training size histogram, both drawn in 60 tries
    for g in graphs:
        n = g.num_nodes
        assert set(g.x.tolist()) <= {3, 7}
        assert {tuple(b) for b in g.box.tolist()} <= train_boxes
        # complete directed graph, every relation from sg2im's rule on the drawn boxes (box centres)
        assert g.edge_index.shape == (2, n * (n - 1))
        rule = sg2im_relations(xywh_to_corners(g.box.numpy()))
        assert g.edge_attr.tolist() == rule[g.edge_index[0].numpy(), g.edge_index[1].numpy()].tolist()
    assert evaluate_scene_graphs(graphs, train)["relation_consistency"] == 1.0
    again = marginal_baseline(train, 60, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a.box, b.box) and torch.equal(a.x, b.x) for a, b in zip(graphs, again))
    other = marginal_baseline(train, 60, generator=torch.Generator().manual_seed(1))
    assert any(not torch.equal(a.box, b.box) for a, b in zip(graphs, other) if a.num_nodes == b.num_nodes)


def test_marginal_baseline_class_frequencies_follow_train() -> None:
    # train classes: 3 objects of class 1, 1 of class 2 -> P(class 1) = 3/4
    train = [sg([1, 1, 1, 2], [[.5, .5, .2, .2]] * 4)]
    graphs = marginal_baseline(train, 500, generator=torch.Generator().manual_seed(0))
    classes = torch.cat([g.x for g in graphs])
    assert len(classes) == 2000
    assert (classes == 1).float().mean().item() == pytest.approx(0.75, abs=0.03)


# ---------------------------------------------------------------------------------------------------- bad input


def test_bad_input_gives_clear_errors() -> None:
    good = sg([0, 1], relations=[(0, 1, LEFT_OF)])
    with pytest.raises(ValueError, match="no generated graphs"):
        evaluate_scene_graphs([], [good])
    with pytest.raises(ValueError, match="no reference graphs"):
        evaluate_scene_graphs([good], [])
    with pytest.raises(ValueError, match=r"generated graph 1: object 2 has class 80, outside 0..79"):
        evaluate_scene_graphs([good, sg([0, 1, 80])], [good])
    with pytest.raises(ValueError, match=r"reference graph 0: relation 0 has class 0, expected 1..6"):
        evaluate_scene_graphs([good], [sg([0, 1], relations=[(0, 1, 0)])])
    with pytest.raises(ValueError, match=r"generated graph 0: relation 1 \(0, 1\) repeats an ordered pair"):
        evaluate_scene_graphs([sg([0, 1], relations=[(0, 1, LEFT_OF), (0, 1, ABOVE)])], [good])
    with pytest.raises(ValueError, match=r"relation 0 \(1, 1\) is a self relation"):
        evaluate_scene_graphs([sg([0, 1], relations=[(1, 1, LEFT_OF)])], [good])
    with pytest.raises(ValueError, match=r"relation 0 \(0, 2\) has an object index outside 0..1"):
        evaluate_scene_graphs([sg([0, 1], relations=[(0, 2, LEFT_OF)])], [good])
    bad_box = sg([0, 1])
    bad_box.box[1, 2] = float("nan")
    with pytest.raises(ValueError, match="generated graph 0: object 1 has a non-finite box"):
        evaluate_scene_graphs([bad_box], [good])
    with pytest.raises(ValueError, match=r"'box' has shape \(2, 3\), expected \[2, 4\]"):
        evaluate_scene_graphs([Data(x=torch.tensor([0, 1]), box=torch.zeros(2, 3))], [good])
    with pytest.raises(ValueError, match="no train graphs"):
        evaluate_scene_graphs([good], [good], [])


# ---------------------------------------------------------------------------------------------------------- CLI


def test_cli_scene_graphs(shared_data, tmp_path, capsys) -> None:
    from graphgen.cli import main

    graphs = _random_scene_graphs(6, 5)
    write_scene_graphs(graphs, tmp_path / "gen.json")
    code = main(["evaluate", "scene-graphs", str(tmp_path / "gen.json"), "--dataset", "coco_sg",
                 "--data-dir", str(shared_data), "--json", str(tmp_path / "scores.json")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "coco_sg: 5 generated" in printed and "triplet_tv" in printed and "relation_consistency" in printed
    scores = json.loads((tmp_path / "scores.json").read_text())
    from graphgen.data.registry import load_dataset

    test = list(load_dataset("coco_sg", "test", data_dir=str(shared_data)))
    train = list(load_dataset("coco_sg", "train", data_dir=str(shared_data)))
    expected = evaluate_scene_graphs(graphs, test, train)
    assert scores.keys() == expected.keys()
    for key, value in expected.items():
        assert (math.isnan(value) and scores[key] == "nan") or scores[key] == pytest.approx(value), key


def test_cli_scene_graphs_bad_file(shared_data, tmp_path) -> None:
    from graphgen.cli import main

    write_scene_graphs(_random_scene_graphs(7, 2), tmp_path / "gen.json")
    doc = json.loads((tmp_path / "gen.json").read_text())
    doc["graphs"][1]["objects"][0]["category"] = "unicorn"
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="graph 1, object 0: unknown category 'unicorn'"):
        main(["evaluate", "scene-graphs", str(tmp_path / "bad.json"), "--dataset", "coco_sg",
              "--data-dir", str(shared_data)])
    doc["graphs"] = []
    (tmp_path / "none.json").write_text(json.dumps(doc))
    with pytest.raises(SystemExit, match="no scene graphs found"):
        main(["evaluate", "scene-graphs", str(tmp_path / "none.json"), "--dataset", "coco_sg",
              "--data-dir", str(shared_data)])


def test_real_test_split_against_itself(shared_data) -> None:
    from graphgen.data.registry import load_dataset

    test = list(load_dataset("coco_sg", "test", data_dir=str(shared_data)))
    out = evaluate_scene_graphs(test, test, test)
    for key in ("degree_mmd", "node_type_mmd", "edge_type_mmd", "triplet_tv", "triplet_novelty"):
        assert out[key] == pytest.approx(0.0, abs=1e-12), key
    assert out["box_max_f1"] == pytest.approx(1.0)
    # the dataset's relations use mask centroids, the consistency check box centres: close to, not exactly, 1
    assert 0.9 < out["relation_consistency"] < 1.0
