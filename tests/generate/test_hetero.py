"""The heterogeneous diffusion generator: schema codes, EDM formulas and sampler, the denoiser's equivariance, a toy
distribution with a known answer, completion, save/load."""
from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Data

from graphgen.generate.hetero import edm
from graphgen.generate.hetero.model import HeteroDiffusionConfig, HeteroDiffusionGenerator, generalized_iou
from graphgen.generate.hetero.schema import (
    Attribute,
    DenseGraphs,
    GraphSchema,
    decode,
    encode,
    from_dense,
    pair_mask,
    to_dense,
)


def toy_schema(encoding: str = "onehot", directed: bool = True) -> GraphSchema:
    return GraphSchema(nodes=[Attribute("x", "categorical", classes=3, encoding=encoding),
                              Attribute("box", "continuous", dim=4, low=0.0, high=1.0, box=True)],
                       edge=Attribute("edge_attr", "categorical", classes=5, encoding=encoding),
                       directed=directed, max_nodes=6)


def random_graph(n: int, seed: int, directed: bool = True) -> Data:
    g = torch.Generator().manual_seed(seed)
    rel = torch.randint(0, 5, (n, n), generator=g)
    rel.fill_diagonal_(0)
    if not directed:
        rel = rel.triu(1) + rel.triu(1).T
    src, dst = rel.nonzero(as_tuple=True)
    return Data(x=torch.randint(0, 3, (n,), generator=g), box=torch.rand(n, 4, generator=g),
                edge_index=torch.stack([src, dst]), edge_attr=rel[src, dst], num_nodes=n)


def small_config(schema: GraphSchema, **kw) -> HeteroDiffusionConfig:
    from graphgen.generate.hetero.model import DenoiserConfig

    return HeteroDiffusionConfig(schema=schema, denoiser=DenoiserConfig(hidden=32, edge_hidden=16, layers=2,
                                                                         heads=2, cond_dim=32), **kw)


# -- schema --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["onehot", "bits"])
@pytest.mark.parametrize("directed", [True, False])
def test_codes_round_trip(encoding, directed):
    schema = toy_schema(encoding, directed)
    graphs = [random_graph(n, seed=n, directed=directed) for n in (1, 4, 6)]
    dense = to_dense(schema, graphs)
    x, e = encode(schema, dense)
    assert x.abs().max() <= 1 and e.abs().max() <= 1
    assert x.shape[-1] == (3 if encoding == "onehot" else 2) + 4
    back = from_dense(schema, decode(schema, x, e, dense.mask))
    for g, h in zip(graphs, back):
        assert torch.equal(g.x, h.x) and torch.allclose(g.box, h.box, atol=1e-6)
        a = torch.zeros(g.num_nodes, g.num_nodes, dtype=torch.long)
        a[g.edge_index[0], g.edge_index[1]] = g.edge_attr
        b = torch.zeros_like(a)
        b[h.edge_index[0], h.edge_index[1]] = h.edge_attr
        assert torch.equal(a, b)


def test_analog_bits_decode_to_the_nearest_valid_class():
    attr = Attribute("c", "categorical", classes=5, encoding="bits")   # 3 bits; patterns 5, 6, 7 are not classes
    assert attr.width == 3
    # 7 = bits (1, 1, 1): nearest valid codes are 3 = (1, 1, -1) and 5 = (1, -1, 1) at distance 2; with a slight
    # lean of the last bit towards -1 the answer is 3
    assert int(attr.decode(torch.tensor([0.9, 0.9, 0.8]))) in (3, 5)
    assert int(attr.decode(torch.tensor([0.9, 0.9, 0.1]))) == 3
    assert attr.decode(attr.code_table()).tolist() == [0, 1, 2, 3, 4]


def test_to_dense_names_the_problem():
    schema = toy_schema()
    bad_class = random_graph(3, 0)
    bad_class.x = torch.tensor([0, 1, 7])
    with pytest.raises(ValueError, match="graph 0: x must be 3 classes in 0..2"):
        to_dense(schema, [bad_class])
    too_big = random_graph(7, 0)
    with pytest.raises(ValueError, match="7 nodes.*at most 6"):
        to_dense(schema, [too_big])
    no_box = Data(x=torch.zeros(2, dtype=torch.long), edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=2)
    with pytest.raises(ValueError, match="no node attribute 'box'"):
        to_dense(schema, [random_graph(2, 1), no_box])
    with pytest.raises(ValueError, match="edge classes must be 1..4"):
        g = random_graph(3, 2)
        g.edge_attr = torch.zeros_like(g.edge_attr)
        to_dense(schema, [g])


def test_schema_checks_itself():
    with pytest.raises(ValueError, match="classes >= 2"):
        Attribute("x", "categorical", classes=1)
    with pytest.raises(ValueError, match="a box has dim 4"):
        Attribute("b", "continuous", dim=3, box=True)
    with pytest.raises(ValueError, match="schema is required"):
        HeteroDiffusionGenerator(HeteroDiffusionConfig())
    with pytest.raises(ValueError, match="needs a box attribute"):
        HeteroDiffusionGenerator(HeteroDiffusionConfig(schema=GraphSchema(nodes=[Attribute("x", classes=2)]),
                                                       giou_weight=1.0))


# -- EDM -------------------------------------------------------------------------------------------------------------
def test_preconditioning_and_weight_match_the_formulas():
    # sigma = sigma_data = 0.5: c_skip = 0.25 / 0.5, c_out = 0.25 / sqrt(0.5), c_in = 1 / sqrt(0.5), c_noise = ln 0.5 / 4
    c_skip, c_out, c_in, c_noise = edm.preconditioning(torch.tensor([0.5]), 0.5)
    assert c_skip.item() == pytest.approx(0.5)
    assert c_out.item() == pytest.approx(0.25 / math.sqrt(0.5))
    assert c_in.item() == pytest.approx(1 / math.sqrt(0.5))
    assert c_noise.item() == pytest.approx(math.log(0.5) / 4)
    assert edm.loss_weight(torch.tensor([0.5]), 0.5).item() == pytest.approx(0.5 / 0.0625)   # = 8
    # EDM's choice makes the effective weight of the network's output error one at every noise level
    sigma = torch.logspace(-3, 2, 20)
    _, c_out, _, _ = edm.preconditioning(sigma, 0.5)
    assert torch.allclose(edm.loss_weight(sigma, 0.5) * c_out ** 2, torch.ones(20))


def test_sampling_sigmas():
    cfg = edm.EDMConfig()
    s = edm.sampling_sigmas(32, cfg)
    assert len(s) == 33 and s[0] == pytest.approx(80.0) and s[31] == pytest.approx(0.002) and s[32] == 0
    assert bool((s[1:] < s[:-1]).all())
    # rho = 7: the midpoint in sigma^(1/7) space
    mid = ((80 ** (1 / 7) + 0.002 ** (1 / 7)) / 2) ** 7
    assert edm.sampling_sigmas(3, cfg)[1].item() == pytest.approx(mid)
    assert edm.evaluations(256, "heun") == 511 and edm.evaluations(32, "euler") == 32


def gaussian_ode_error(sampler: str, steps: int) -> float:
    """Largest relative error of the sampler on data N(0, s^2): the ideal denoiser is D(x; sigma) =
    s^2 / (s^2 + sigma^2) x and the probability-flow ODE maps x(sigma_max) to x(sigma_max) s / sqrt(s^2 + sigma_max^2).
    """
    cfg, s = edm.EDMConfig(), 0.3
    x_t = torch.randn(100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = edm.sample_loop(lambda xs, sigma: [s ** 2 / (s ** 2 + sigma ** 2) * xs[0]], [x_t], steps, cfg,
                          sampler=sampler, churn=0.0, generator=None)[0]
    expected = x_t * cfg.sigma_max * s / math.sqrt(s ** 2 + cfg.sigma_max ** 2)
    return float(((out - expected) / expected).abs().max())


def test_sampler_solves_the_ode_of_gaussian_data_with_its_order():
    assert gaussian_ode_error("heun", 256) < 1e-3 and gaussian_ode_error("heun", 32) < 0.03
    # Heun is second order (error / 4 per doubling of steps), Euler first order (error / 2)
    assert 3.5 < gaussian_ode_error("heun", 32) / gaussian_ode_error("heun", 64) < 4.5
    assert 1.8 < gaussian_ode_error("euler", 64) / gaussian_ode_error("euler", 128) < 2.2


def test_generalized_iou_hand_cases():
    a = torch.tensor([0.5, 0.5, 1.0, 1.0])
    assert generalized_iou(a, a).item() == pytest.approx(1.0, abs=1e-6)
    # unit squares [0,1] and [2,3] side by side: IoU 0, hull 3, union 2 -> GIoU = -(3 - 2) / 3
    assert generalized_iou(a, torch.tensor([2.5, 0.5, 1.0, 1.0])).item() == pytest.approx(-1 / 3, abs=1e-6)
    # [0,1]^2 and [0.5,1.5]x[0,1]: intersection 0.5, union 1.5, hull 1.5 -> 1/3
    assert generalized_iou(a, torch.tensor([1.0, 0.5, 1.0, 1.0])).item() == pytest.approx(1 / 3, abs=1e-6)


# -- the model -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("directed", [True, False])
def test_denoiser_is_permutation_equivariant(directed):
    torch.manual_seed(0)
    model = HeteroDiffusionGenerator(small_config(toy_schema(directed=directed))).eval()
    dense = to_dense(model.schema, [random_graph(5, 3, directed), random_graph(3, 4, directed)], num_nodes=5)
    x0, e0 = encode(model.schema, dense)
    x, e = x0 + 0.7 * torch.randn_like(x0), e0 + 0.7 * torch.randn_like(e0)
    sigma = torch.tensor([0.7, 2.0])
    with torch.no_grad():
        dx, de = model.denoise(x, e, sigma, dense.mask, (x0, e0))
        perm = torch.tensor([3, 0, 4, 1, 2])
        mask_p = dense.mask.clone()
        mask_p[0] = dense.mask[0, perm]
        px, pe = x.clone(), e.clone()
        px[0], pe[0] = x[0, perm], e[0][perm][:, perm]
        ex, ee = x0.clone(), e0.clone()
        ex[0], ee[0] = x0[0, perm], e0[0][perm][:, perm]
        dxp, dep = model.denoise(px, pe, sigma, mask_p, (ex, ee))
    assert torch.allclose(dxp[0], dx[0, perm], atol=1e-5)
    assert torch.allclose(dep[0], de[0][perm][:, perm], atol=1e-5)
    assert torch.allclose(dxp[1], dx[1], atol=1e-6)
    # padded entries are exactly zero
    assert dx[1, 3:].abs().max() == 0 and de[1, 3:].abs().max() == 0 and de[1, :, 3:].abs().max() == 0
    if not directed:
        assert torch.allclose(de, de.transpose(1, 2))


def test_loss_terms_and_gradients():
    torch.manual_seed(0)
    model = HeteroDiffusionGenerator(small_config(toy_schema(), giou_weight=0.5))
    graphs = [random_graph(n, n) for n in (2, 5, 6)]
    terms = model.loss_terms(graphs, generator=torch.Generator().manual_seed(0))
    assert set(terms) == {"loss", "loss_nodes", "loss_edges", "loss_giou"}
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())
    # the same generator state gives the same loss
    again = model.loss_terms(graphs, generator=torch.Generator().manual_seed(0))
    assert again["loss"].item() == pytest.approx(terms["loss"].item())


def train_toy(steps: int = 600, seed: int = 0):
    """Two object classes with class-dependent box sizes, 1-3 objects, no relations: class 0 (30%) is a small box
    (w, h) = (0.2, 0.2) at the left, class 1 (70%) a large box (0.6, 0.4) at the right."""
    g = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(256):
        n = int(torch.randint(1, 4, (1,), generator=g))
        x = (torch.rand(n, generator=g) < 0.7).long()
        size = torch.where(x[:, None] == 1, torch.tensor([0.6, 0.4]), torch.tensor([0.2, 0.2]))
        centre = torch.where(x[:, None] == 1, torch.tensor([0.7, 0.5]), torch.tensor([0.2, 0.5]))
        box = torch.cat([centre, size], -1) + 0.02 * torch.randn(n, 4, generator=g)
        graphs.append(Data(x=x, box=box, edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=n))
    schema = GraphSchema(nodes=[Attribute("x", "categorical", classes=2),
                                Attribute("box", "continuous", dim=4, low=0.0, high=1.0, box=True)],
                         edge=Attribute("", "categorical", classes=2), directed=False, max_nodes=3)
    torch.manual_seed(seed)
    model = HeteroDiffusionGenerator(small_config(schema))
    dense = to_dense(schema, graphs)
    model.set_node_distribution(dense.mask.sum(-1))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(0, len(graphs), (64,), generator=gen)
        loss = model.loss(dense.index(idx).trim(), generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


@pytest.mark.usefixtures("one_torch_thread")
def test_learns_a_toy_distribution_with_a_known_answer():
    model = train_toy()
    samples = model.sample(300, generator=torch.Generator().manual_seed(1), steps=32)
    x = torch.cat([s.x for s in samples])
    box = torch.cat([s.box for s in samples])
    assert abs(x.float().mean().item() - 0.7) < 0.07          # class frequencies (an untrained model: 0.80)
    for cls, size in ((0, (0.2, 0.2)), (1, (0.6, 0.4))):       # class-dependent sizes
        got = box[x == cls, 2:].median(0).values
        assert torch.allclose(got, torch.tensor(size), atol=0.06), (cls, got)
    counts = torch.bincount(torch.tensor([s.num_nodes for s in samples]), minlength=4)
    assert counts[0] == 0 and counts[1:].min() > 60           # 1-3 nodes, roughly uniform


def test_completion_keeps_the_fixed_part_exactly():
    torch.manual_seed(0)
    model = HeteroDiffusionGenerator(small_config(toy_schema())).eval()
    model.set_node_distribution(torch.tensor([4, 5, 6]))
    partial = Data(x=torch.tensor([2, -1]), box=torch.tensor([[0.25, 0.5, 0.1, 0.2], [float("nan")] * 4]),
                   edge_index=torch.tensor([[0], [1]]), edge_attr=torch.tensor([3]), num_nodes=2)
    out = model.sample(5, generator=torch.Generator().manual_seed(0), steps=4, complete=partial)
    for g in out:
        assert g.num_nodes >= 4
        assert g.x[0].item() == 2 and torch.equal(g.box[0], partial.box[0])
        rel = dict(zip(map(tuple, g.edge_index.T.tolist()), g.edge_attr.tolist()))
        assert rel.get((0, 1)) == 3
    with pytest.raises(ValueError, match="no node attribute 'box'"):
        model.sample(1, steps=2, complete=Data(x=torch.tensor([0]), num_nodes=1))


def test_sample_options_events_and_save_load(tmp_path):
    from graphgen.generate import load_generator
    from graphgen.generate.base import SampleOptionError, SampleStats

    torch.manual_seed(0)
    model = HeteroDiffusionGenerator(small_config(toy_schema())).eval()
    model.set_node_distribution(torch.tensor([1, 3, 6]))
    stats = SampleStats()
    a = model.sample(3, generator=torch.Generator().manual_seed(0), steps=5, callback=stats)
    assert stats.evaluations_per_graph == edm.evaluations(5, "heun")
    assert all(1 <= g.num_nodes <= 6 for g in a)
    model.save_pretrained(tmp_path / "m")
    loaded = load_generator(tmp_path / "m")
    b = loaded.sample(3, generator=torch.Generator().manual_seed(0), steps=5)
    for g, h in zip(a, b):
        assert torch.equal(g.x, h.x) and torch.equal(g.box, h.box) and torch.equal(g.edge_index, h.edge_index)
    with pytest.raises(SampleOptionError, match="valid options"):
        model.sample(1, snr=0.1)
    with pytest.raises(SampleOptionError, match="sampler must be one of"):
        model.sample(1, sampler="ddim")
    euler = SampleStats()
    model.sample(2, steps=7, sampler="euler", callback=euler)
    assert euler.evaluations_per_graph == 7


def test_pair_mask_excludes_diagonal_and_padding():
    m = pair_mask(torch.tensor([[True, True, False]]))
    assert m[0].tolist() == [[False, True, False], [True, False, False], [False, False, False]]
    dense = DenseGraphs({"x": torch.zeros(1, 3, dtype=torch.long)}, torch.zeros(1, 3, 3, dtype=torch.long),
                        torch.tensor([[True, True, False]]))
    assert dense.trim().mask.shape == (1, 2)


def toy_lane_scenes(num: int, seed: int) -> list[Data]:
    """Three straight lanes heading +x: lane 0 from x = -20 to 10 at y = c, lane 1 from 10 to 30 at y = c
    (its successor), lane 2 from -20 to 30 at y = c + 3.5 (the next lane over); c ~ U(-10, 10)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, 20)[:, None]
    scenes = []
    for _ in range(num):
        c = float(torch.rand(1, generator=g)) * 20 - 10

        def lane(x0: float, x1: float, y: float) -> torch.Tensor:
            return torch.cat([x0 + (x1 - x0) * t, torch.full_like(t, y)], dim=1)
        pos = torch.stack([lane(-20, 10, c), lane(10, 30, c), lane(-20, 30, c + 3.5)])
        scenes.append(Data(pos=pos, edge_index=torch.tensor([[0], [1]]), num_nodes=3))
    return scenes


@pytest.mark.usefixtures("one_torch_thread")
def test_learns_straight_parallel_lanes_with_a_successor():
    from graphgen.generate.hetero.model import DenoiserConfig
    from graphgen.generate.hetero.schema import lane_graph_schema

    graphs = toy_lane_scenes(256, 0)
    torch.manual_seed(0)
    # the lanes preset's choices: cubic Bézier codes, end-to-start pair features, lanes first and edges second
    model = HeteroDiffusionGenerator(HeteroDiffusionConfig(
        schema=lane_graph_schema(max_nodes=3), endpoint_features=True, schedule="nodes_then_edges",
        denoiser=DenoiserConfig(hidden=64, edge_hidden=16, layers=2, heads=2, cond_dim=32)))
    dense = to_dense(model.schema, graphs)
    model.set_node_distribution(dense.mask.sum(-1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(1200):
        loss = model.loss(dense.index(torch.randint(0, len(graphs), (64,), generator=gen)), generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    samples = model.eval().sample(100, generator=torch.Generator().manual_seed(1), steps=32)
    pos = torch.stack([s.pos for s in samples])                          # [100, 3, 20, 2]
    assert pos.shape == (100, 3, 20, 2)
    ys = pos[..., 1]
    straight = (ys - ys.mean(-1, keepdim=True)).abs().mean()              # lanes are horizontal lines
    heading_x = (pos[..., -1, 0] - pos[..., 0, 0] > 0).float().mean()    # and run towards +x
    lane_y = ys.mean(-1).sort(-1).values                                  # two rows of lanes 3.5 m apart
    spacing = (lane_y[:, 2] - lane_y[:, 0]).median()
    # an untrained model: deviation 15 m, spacing 8 m, 61% of lanes towards +x
    assert straight < 1.0 and heading_x > 0.95 and abs(spacing - 3.5) < 0.5, (straight, heading_x, spacing)

    # the edge goes from a lane that starts on the left (x = -20) to the lane that starts where it ends (x = 10)
    # in the same row, and the end meets the start
    def right_pair(p: torch.Tensor, i: int, j: int) -> bool:
        return bool(p[j, 0, 0] - p[i, 0, 0] > 15 and (p[i, -1] - p[j, 0]).norm() < 3
                    and (p[i, :, 1].mean() - p[j, :, 1].mean()).abs() < 2)
    with_edge = sum(s.edge_index.shape[1] >= 1 for s in samples) / len(samples)
    agree = sum(right_pair(s.pos, i, j) for s in samples for i, j in s.edge_index.T.tolist())
    total = sum(s.edge_index.shape[1] for s in samples)
    # trained with one shared noise level and no pair features, the same budget put 46% of the edges between the
    # wrong lanes; an untrained model links about half of the 6 ordered pairs, almost never the right one
    assert with_edge > 0.7 and total < 1.5 * len(samples) and agree / max(total, 1) > 0.85, (with_edge, agree, total)


def test_bezier_codes_fit_polylines_and_resample_evenly():
    from graphgen.generate.hetero.schema import bernstein_matrix, evenly_spaced, fit_bezier

    attr = Attribute("pos", "continuous", dim=40, shape=[20, 2], low=-32.0, high=32.0, bezier=3)
    assert attr.width == 8
    t = torch.linspace(0, 1, 20)[:, None]
    line = torch.cat([-5 + 20 * t, 10 * t], dim=1)                       # a straight lane: exactly a cubic
    codes = attr.encode(line.reshape(1, 40))
    assert codes.shape == (1, 8)
    assert torch.allclose(attr.decode(codes).reshape(20, 2), line, atol=1e-4)
    # the end control points are the polyline's ends (in code units)
    ends = codes.reshape(4, 2)[[0, -1]]
    assert torch.allclose(attr.unscale(ends), line[[0, -1]], atol=1e-5)
    # a quarter of a 10 m circle, sampled evenly: the decoded curve is within 5 cm and evenly spaced again
    angle = t[:, 0] * math.pi / 2
    arc = torch.stack([10 * angle.cos(), 10 * angle.sin()], -1)
    back = attr.decode(attr.encode(arc.reshape(40))).reshape(20, 2)
    steps = (back[1:] - back[:-1]).norm(dim=-1)
    assert (back - arc).norm(dim=-1).max() < 0.05 and (steps.max() - steps.min()) < 1e-3
    # Bernstein rows sum to 1; the fit of a curve's own points returns its control points
    assert torch.allclose(bernstein_matrix(4, 7).sum(-1), torch.ones(7), atol=1e-6)
    control = torch.tensor([[0.0, 0.0], [3.0, 5.0], [8.0, 5.0], [10.0, 0.0]])
    assert torch.allclose(fit_bezier(bernstein_matrix(3, 20) @ control, 3), control, atol=1e-4)
    # a zero-length polyline stays a point
    assert torch.equal(evenly_spaced(torch.ones(1, 5, 2), 5), torch.ones(1, 5, 2))
    with pytest.raises(ValueError, match="bezier=3 needs a polyline shape"):
        Attribute("pos", "continuous", dim=4, low=0.0, high=1.0, bezier=3)


def test_endpoint_pair_features_read_the_end_to_start_geometry():
    from graphgen.generate.hetero.model import endpoint_pair_features

    # lane 0 ends at (1, 0) heading +x; lane 1 starts there heading +x; lane 2 starts 4 units away heading -x
    control = torch.tensor([[[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]],
                            [[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]],
                            [[1.0, 4.0], [0.0, 4.0], [-1.0, 4.0]]])[None]
    f = endpoint_pair_features(control, scale=1.0)
    assert f.shape == (1, 3, 3, 5)
    assert torch.allclose(f[0, 0, 1], torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0]))            # a perfect successor
    assert torch.allclose(f[0, 0, 2], torch.tensor([0.0, math.tanh(-4.0), math.exp(-4), math.exp(-0.5), -1.0]))
    # swapping the nodes swaps the pair features (the features are equivariant)
    perm = torch.tensor([2, 0, 1])
    assert torch.allclose(endpoint_pair_features(control[:, perm], 1.0), f[:, perm][:, :, perm])
    with pytest.raises(ValueError, match="endpoint_features needs a polyline"):
        HeteroDiffusionGenerator(small_config(toy_schema(), endpoint_features=True))


def test_nodes_then_edges_schedule_trains_each_part_on_its_phase_and_samples_in_two():
    from graphgen.generate.base import SampleStats
    from graphgen.generate.hetero.schema import lane_graph_schema

    torch.manual_seed(0)
    model = HeteroDiffusionGenerator(small_config(lane_graph_schema(max_nodes=4), schedule="nodes_then_edges",
                                                  endpoint_features=True))
    graphs = toy_lane_scenes(8, 0)
    terms = model.loss_terms(graphs, generator=torch.Generator().manual_seed(0))
    terms["loss"].backward()
    assert model.edge_noise_embedding is not None
    assert all(p.grad is not None for p in model.edge_noise_embedding.parameters())
    model.set_node_distribution(torch.tensor([3, 4]))
    stats = SampleStats()
    out = model.eval().sample(2, generator=torch.Generator().manual_seed(0), steps=5, callback=stats)
    assert stats.evaluations_per_graph == 2 * edm.evaluations(5, "heun")   # one run for the nodes, one for the edges
    assert all(g.pos.shape[1:] == (20, 2) for g in out)
    with pytest.raises(ValueError, match="schedule must be one of"):
        small_config(toy_schema(), schedule="edges_first")
