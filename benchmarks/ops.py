"""Message-passing kernels: graphgen.ops against PyG's default propagate, torch_scatter and torch.sparse CSR SpMM.

Prints, for each graph and op, forward and forward+backward time (best and median of ``--reps`` rounds after a
warm-up; the peers of one op run interleaved round-robin, so load from other jobs hits them alike) and peak memory
(rise of the process's peak RSS over the call), each peer measured in the same run, and speed-ups relative to
PyG's default ``MessagePassing.propagate`` (from the best times; the goal summary also gives the median ratio).
torch and numba use the same number of threads (``--threads``, default 2), set before anything runs. Also prints the bytes moved per second by graphgen's ``sum`` kernel next to
this machine's copy bandwidth measured in the same run.

Graphs: N=200k / E=2M uniform random, N=200k / E=2M power-law in- and out-degree, and a batch of 512 ZINC molecules
(from ``$GRAPHGEN_DATA/molecules/zinc12k_benchmarking_gnns.csv.gz``); node/edge features are random, F=64
(attention: 4 heads x 16).

    nice -n 5 python benchmarks/ops.py                     # full table (~10-20 min on 2 busy cores)
    python benchmarks/ops.py --graphs zinc --reps 5        # quick

Ratios from one run are meaningful on a shared machine; absolute times are not (other jobs take cores).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import gzip
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

# torch's libgomp reads OMP_WAIT_POLICY once, when it loads. With the default (active spinning) and more torch threads
# than free cores, which is the normal state of this shared machine, every parallel torch op pays for threads spinning
# at barriers while their partner waits for a core: PyG's propagate on the ZINC batch took 90 ms with 2 active threads
# and 12 ms with 2 passive ones (10 ms on 1 thread). Measuring the peers in that state would flatter graphgen (numba's
# workqueue pool does not spin), so the default is passive; --omp-wait active shows the other case (an
# OMP_WAIT_POLICY already in the environment wins over both).
def _omp_wait_from_argv(argv: list[str]) -> str:
    for pos, arg in enumerate(argv):
        if arg.startswith("--omp-wait="):
            return arg.split("=", 1)[1]
        if arg == "--omp-wait" and pos + 1 < len(argv):
            return argv[pos + 1]
    return "passive"


os.environ.setdefault("OMP_WAIT_POLICY", _omp_wait_from_argv(sys.argv).upper())

import torch  # noqa: E402
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.utils import softmax as pyg_softmax

from graphgen import ops
from graphgen.ops import CSRGraph

try:
    import torch_scatter
except ImportError:                     # the peer is skipped with a printed note
    torch_scatter = None

F = 64
_LIBC = ctypes.CDLL("libc.so.6")
HEADS, HEAD_DIM = 4, 16


# ------------------------------------------------------------------------------------------------------ graphs
def uniform_graph(num_nodes: int, num_edges: int, gen: torch.Generator) -> tuple[Tensor, int]:
    return torch.randint(0, num_nodes, (2, num_edges), generator=gen), num_nodes


def power_law_graph(num_nodes: int, num_edges: int, gen: torch.Generator, exponent: float = 1.0
                    ) -> tuple[Tensor, int]:
    """Both endpoints drawn with P(node of rank r) ~ r^-exponent, ranks shuffled over node ids."""
    weights = torch.arange(1, num_nodes + 1, dtype=torch.float64).pow(-exponent)
    ends = []
    for _ in range(2):
        rank = torch.multinomial(weights, num_edges, replacement=True, generator=gen)
        ends.append(torch.randperm(num_nodes, generator=gen)[rank])
    return torch.stack(ends), num_nodes


def zinc_batch(num_graphs: int) -> tuple[Tensor, int]:
    from rdkit import Chem

    root = os.environ.get("GRAPHGEN_DATA")
    path = Path(root or "") / "molecules" / "zinc12k_benchmarking_gnns.csv.gz"
    if not root or not path.is_file():
        raise FileNotFoundError(f"{path} not found; set GRAPHGEN_DATA to the shared data folder")
    edges, offset = [], 0
    with gzip.open(path, "rt") as handle:
        header = handle.readline().strip().split(",")
        col = header.index("smiles")
        for line in handle:
            mol = Chem.MolFromSmiles(line.strip().split(",")[col])
            for bond in mol.GetBonds():
                a, b = bond.GetBeginAtomIdx() + offset, bond.GetEndAtomIdx() + offset
                edges += [(a, b), (b, a)]
            offset += mol.GetNumAtoms()
            num_graphs -= 1
            if num_graphs == 0:
                break
    return torch.tensor(edges).t().contiguous(), offset


# --------------------------------------------------------------------------------------- PyG default propagate
class CopyConv(MessagePassing):
    """``out_i = aggr_j x_j`` through PyG's default gather / scatter."""

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        return self.propagate(edge_index, x=x)

    def message(self, x_j: Tensor) -> Tensor:
        return x_j


class GINEMessageConv(MessagePassing):
    """``out_i = sum_j relu(x_j + e_ij)``: the GINE message through PyG's default propagate."""

    def __init__(self):
        super().__init__(aggr="add")

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        return self.propagate(edge_index, x=x, edge_attr=edge_attr)

    def message(self, x_j: Tensor, edge_attr: Tensor) -> Tensor:
        return torch.relu(x_j + edge_attr)


class EdgeSoftmaxAttention(MessagePassing):
    """PyG-style sparse attention (as in TransformerConv): scores per edge, ``torch_geometric.utils.softmax`` over
    each node's incoming edges, weighted sum of ``v_j``."""

    def __init__(self):
        super().__init__(aggr="add", node_dim=0)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, edge_index: Tensor, bias: Tensor) -> Tensor:
        return self.propagate(edge_index, q=q, k=k, v=v, bias=bias)

    def message(self, q_i: Tensor, k_j: Tensor, v_j: Tensor, bias: Tensor, index: Tensor, ptr: Tensor | None,
                size_i: int | None) -> Tensor:
        score = (q_i * k_j).sum(-1) / math.sqrt(q_i.size(-1)) + bias      # [E, H]
        alpha = pyg_softmax(score, index, ptr, size_i)
        return v_j * alpha.unsqueeze(-1)                                  # [E, H, D]


# -------------------------------------------------------------------------------------------------- measuring
def _status_kb(key: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(key):
                return int(line.split()[1])
    raise KeyError(key)


def _peak_rss_mb(run: Callable[[], None]) -> float:
    """Rise of the peak resident set over ``run()`` (reset through /proc/self/clear_refs)."""
    gc.collect()
    _LIBC.malloc_trim(0)                    # give freed heap pages back, so the baseline is memory actually in use
    ops.empty_cache()                       # and graphgen's cached kernel buffers: the run allocates them afresh
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return float("nan")
    base = _status_kb("VmRSS:")
    run()
    return (_status_kb("VmHWM:") - base) / 1024


class Task:
    """One peer on one op, forward only or forward + backward of ``out.sum()``."""

    def __init__(self, fn: Callable[..., Tensor], inputs: list[Tensor], backward: bool):
        self.fn, self.backward = fn, backward
        self.leaves = [t.detach().requires_grad_(backward) if t.is_floating_point() else t for t in inputs]
        self.times: list[float] = []

    def run(self) -> None:
        with torch.set_grad_enabled(self.backward):
            out = self.fn(*self.leaves)
            if self.backward:
                out.backward(torch.ones_like(out))
                for t in self.leaves:
                    t.grad = None

    def timed(self) -> None:
        # as timeit does: no garbage collection inside the timed call. (Until session 6 this ran gc.collect() before
        # every call instead; in this process a collection walks ~440k objects, takes ~0.9 s and evicts the caches,
        # so each ZINC-sized call started cold and the ZINC section took ~20 minutes.)
        gc.disable()
        try:
            start = time.perf_counter()
            self.run()
            self.times.append(time.perf_counter() - start)
        finally:
            gc.enable()


def measure(tasks: list[Task], reps: int, warmup: int = 1) -> None:
    """Warm every task up, then time them round-robin ``reps`` times, so that load from other jobs on the machine
    hits every peer alike; each task keeps all its times (reported: best and median)."""
    for _ in range(warmup):
        for task in tasks:
            task.run()                                              # numba cache load, PyG inspection, allocator
    for _ in range(reps):
        gc.collect()                                                # once per round, outside every timed call
        for task in tasks:
            task.timed()


def copy_bandwidth_gbs(num_bytes: int = 1 << 29, reps: int = 5) -> float:
    a = torch.ones(num_bytes // 4)
    b = torch.empty_like(a)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        b.copy_(a)
        best = min(best, time.perf_counter() - start)
    return 2 * num_bytes / best / 1e9


# ------------------------------------------------------------------------------------------------------ peers
def peers_for(op: str, edge_index: Tensor, graph: CSRGraph) -> dict[str, Callable[..., Tensor] | str]:
    """peer name -> callable, or a string saying why it is not measured."""
    n = graph.num_dst_nodes
    missing = "torch_scatter not installed (pip install --no-build-isolation torch-scatter)"
    if op == "max":
        pyg = CopyConv(aggr="max")
        return {
            "PyG propagate": lambda x: pyg(x, edge_index),
            "torch_scatter": (lambda x: torch_scatter.segment_csr(x[graph.col], graph.indptr, reduce="max"))
            if torch_scatter else missing,
            "torch.sparse CSR": "no max reduction",
            "graphgen cpu": lambda x: ops.gather_scatter(x, graph, reduce="max", backend="cpu"),
        }
    if op in ("sum", "mean"):
        pyg = CopyConv(aggr=op)
        values = torch.ones(graph.num_edges) if op == "sum" else \
            (1.0 / graph.in_degree.clamp(min=1).float())[graph.row]
        adj = torch.sparse_csr_tensor(graph.indptr, graph.col, values, (n, graph.num_src_nodes))
        return {
            "PyG propagate": lambda x: pyg(x, edge_index),
            "torch_scatter": (lambda x: torch_scatter.segment_csr(x[graph.col], graph.indptr, reduce=op))
            if torch_scatter else missing,
            "torch.sparse CSR": lambda x: torch.sparse.mm(adj, x),
            "graphgen cpu": lambda x: ops.gather_scatter(x, graph, reduce=op, backend="cpu"),
        }
    if op == "add_relu":
        pyg = GINEMessageConv()
        return {
            "PyG propagate": lambda x, e: pyg(x, edge_index, e),
            "torch_scatter": (lambda x, e: torch_scatter.segment_csr(torch.relu(x[graph.col] + e[graph.perm]),
                                                                     graph.indptr, reduce="sum"))
            if torch_scatter else missing,
            "torch.sparse CSR": "cannot express relu(x_j + e_ij)",
            "graphgen cpu": lambda x, e: ops.gather_scatter(x, graph, edge_attr=e, message="add_relu",
                                                            backend="cpu"),
        }
    if op == "attention":
        pyg = EdgeSoftmaxAttention()
        return {
            "PyG propagate": lambda q, k, v, b: pyg(q, k, v, edge_index, b),
            "torch_scatter": (lambda q, k, v, b: ops.edge_attention(q, k, v, graph, edge_bias=b,
                                                                    backend="torch_scatter"))
            if torch_scatter else missing,
            "torch.sparse CSR": "no fused sparse softmax-attention",
            "graphgen cpu": lambda q, k, v, b: ops.edge_attention(q, k, v, graph, edge_bias=b, backend="cpu"),
        }
    raise ValueError(op)


def inputs_for(op: str, num_nodes: int, num_edges: int, gen: torch.Generator) -> list[Tensor]:
    if op in ("sum", "mean", "max"):
        return [torch.randn(num_nodes, F, generator=gen)]
    if op == "add_relu":
        return [torch.randn(num_nodes, F, generator=gen), torch.randn(num_edges, F, generator=gen)]
    return [torch.randn(num_nodes, HEADS, HEAD_DIM, generator=gen) for _ in range(3)] + \
        [torch.randn(num_edges, HEADS, generator=gen)]


GOALS = {"sum": (8.0, 4.0), "mean": (8.0, 4.0), "max": (None, None), "add_relu": (3.0, 3.0),
         "attention": (3.0, 3.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--graphs", default="uniform,powerlaw,zinc")
    parser.add_argument("--ops", default="sum,mean,max,add_relu,attention")
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--edges", type=int, default=2_000_000)
    parser.add_argument("--zinc-graphs", type=int, default=512)
    parser.add_argument("--reps", type=int, default=3, help="timed rounds on the large graphs")
    parser.add_argument("--zinc-reps", type=int, default=30, help="timed rounds on the ZINC batch")
    parser.add_argument("--threads", type=int, default=2, help="threads for torch AND numba (same budget)")
    parser.add_argument("--omp-wait", choices=("passive", "active"), default="passive",
                        help="OMP_WAIT_POLICY of torch's OpenMP threads (read when torch loads; see the top of the file)")
    args = parser.parse_args()
    # graphgen.ops._cpu picks numba's threading layer on import; it must be imported before numba starts its pool
    from graphgen.ops import _cpu  # noqa: F401
    import numba
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    warnings.filterwarnings("ignore", message="Sparse")   # torch's beta / invariant-check notes on CSR tensors

    gen = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, numba {numba.__version__} "
          f"({numba.get_num_threads()} threads, layer {numba.threading_layer()}), torch_scatter "
          f"{getattr(torch_scatter, '__version__', 'NOT INSTALLED: peer skipped')}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared machine: compare ratios)")
    from graphgen.ops import _memory
    print(f"huge pages: graphgen's large kernel outputs {'on' if _memory.hugepages_enabled() else 'off'} "
          f"(GRAPHGEN_HUGEPAGES), every torch buffer {'on' if os.environ.get('THP_MEM_ALLOC_ENABLE') == '1' else 'off'} "
          f"(THP_MEM_ALLOC_ENABLE); graphgen's buffer cache {_memory.POOL_MAX_BYTES >> 20} MB "
          f"(GRAPHGEN_BUFFER_POOL_MB; 0 = off)")
    bandwidth = copy_bandwidth_gbs()
    print(f"memory copy bandwidth (torch copy_, 512 MB, read+write): {bandwidth:.1f} GB/s")

    builders = {"uniform": lambda: uniform_graph(args.nodes, args.edges, gen),
                "powerlaw": lambda: power_law_graph(args.nodes, args.edges, gen),
                "zinc": lambda: zinc_batch(args.zinc_graphs)}
    summary = []
    for graph_name in args.graphs.split(","):
        try:
            edge_index, num_nodes = builders[graph_name]()
        except FileNotFoundError as err:
            print(f"\n[{graph_name}] skipped: {err}")
            continue
        start = time.perf_counter()
        graph = CSRGraph.from_edge_index(edge_index, num_nodes, cache=False)
        build_ms = (time.perf_counter() - start) * 1e3
        num_edges = graph.num_edges
        deg = graph.in_degree
        print(f"\n[{graph_name}] N={num_nodes} E={num_edges} max in-degree {int(deg.max())}, "
              f"CSRGraph build {build_ms:.0f} ms (once per graph; shared by every layer and by torch.sparse)")
        print(f"  an E x F float32 message buffer would take {num_edges * F * 4 / 2**20:.0f} MB; "
              f"N x F output {num_nodes * F * 4 / 2**20:.0f} MB")
        header = f"  {'op':<10} {'peer':<17} {'fwd ms':>8} {'(med)':>8} {'f+b ms':>8} {'(med)':>8} {'fwd MB':>7} " \
                 f"{'f+b MB':>7} {'fwd x':>6} {'f+b x':>6}"
        print(header)
        print("  " + "-" * (len(header) - 2))
        for op in args.ops.split(","):
            inputs = inputs_for(op, num_nodes, num_edges, gen)
            results = {}
            tasks = {}
            for peer, fn in peers_for(op, edge_index, graph).items():
                if isinstance(fn, str):
                    print(f"  {op:<10} {peer:<17} {'n/a: ' + fn}")
                    continue
                tasks[peer] = (Task(fn, inputs, backward=False), Task(fn, inputs, backward=True))
            measure([task for pair in tasks.values() for task in pair],
                    args.zinc_reps if graph_name == "zinc" else args.reps)
            for peer, (fwd, both) in tasks.items():
                fwd_ms, both_ms = min(fwd.times) * 1e3, min(both.times) * 1e3
                fwd_med, both_med = statistics.median(fwd.times) * 1e3, statistics.median(both.times) * 1e3
                fwd_mb, both_mb = _peak_rss_mb(fwd.run), _peak_rss_mb(both.run)
                results[peer] = (fwd_ms, both_ms, fwd_med, both_med, fwd_mb, both_mb)
                base = results.get("PyG propagate", (float("nan"),) * 6)
                print(f"  {op:<10} {peer:<17} {fwd_ms:8.1f} {fwd_med:8.1f} {both_ms:8.1f} {both_med:8.1f} "
                      f"{fwd_mb:7.0f} {both_mb:7.0f} {base[0] / fwd_ms:6.1f} {base[1] / both_ms:6.1f}", flush=True)
                if op == "sum" and peer == "graphgen cpu":
                    # reads: gathered rows E*F*4 + col E*8 + indptr (N+1)*8; writes: zero-fill + result 2*N*F*4
                    moved = num_edges * (F * 4 + 8) + (num_nodes + 1) * 8 + 2 * num_nodes * F * 4
                    rate = moved / (fwd_ms / 1e3) / 1e9
                    where = "of the copy bandwidth above" if moved > 1 << 28 else \
                        "(fits in cache: not a DRAM figure)"
                    print(f"  {'':<10} {'':<17} sum forward moves {moved / 1e9:.2f} GB -> {rate:.1f} GB/s = "
                          f"{100 * rate / bandwidth:.0f}% {where}")
            del tasks
            if "graphgen cpu" in results and "PyG propagate" in results:
                pyg, ours = results["PyG propagate"], results["graphgen cpu"]
                summary.append((graph_name, op, pyg[0] / ours[0], pyg[1] / ours[1], pyg[2] / ours[2],
                                pyg[3] / ours[3], GOALS[op]))
        del graph, edge_index

    print("\nGoals (graphgen cpu vs PyG default propagate, same run; ratio of best times, [ratio of medians]):")
    for graph_name, op, fwd_x, both_x, fwd_med_x, both_med_x, (goal_fwd, goal_both) in summary:
        if goal_fwd is None:
            verdict, goals = "(no goal)", ("-", "-")
        else:
            verdict = "met" if fwd_x >= goal_fwd and both_x >= goal_both else "MISSED"
            goals = (f"{goal_fwd:.0f}x", f"{goal_both:.0f}x")
        print(f"  {graph_name:<9} {op:<10} fwd {fwd_x:5.1f}x [{fwd_med_x:5.1f}x] (goal {goals[0]:>2})  "
              f"fwd+bwd {both_x:5.1f}x [{both_med_x:5.1f}x] (goal {goals[1]:>2})  {verdict}")
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")

if __name__ == "__main__":
    main()
