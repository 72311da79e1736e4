"""PARD generator: autoregressive over PARD blocks, discrete diffusion within each block (Zhao et al., 2024).

``p(G) = prod_i p(size_i, degree_i | blocks < i) · p_diffusion(block i | blocks < i, size_i, degree_i)``, ending when
the predicted next size is 0. Block order: :mod:`graphgen.generate.pard.blocks`. Diffusion:
:mod:`graphgen.generate.pard.diffusion`. Denoiser: :mod:`graphgen.generate.pard.network`.

Training (parallel, GPT-like): every graph of ``n`` nodes becomes ``2n`` slots, the ``n`` clean (real) nodes plus a
virtual noisy copy of each block; each virtual block gets its own time step ``t ~ U{1..T}``; the causal block mask
makes one forward pass the sum of all per-block denoising problems. Loss per element (D3PM):
``vlb_weight · L_vlb + ce_weight · CE(x_0)`` over the new block's node types, its intra-block edges and its edges to
earlier blocks, plus ``size_weight ·`` cross-entropy of the next-block size (0 = stop) and degree heads.

Next-block head: ``p(size_i, degree_i | blocks < i) = p(size_i | ·) · p(degree_i | size_i, ·)``. Block size and
degree are strongly coupled (a first block of 5 nodes is a 5-ring, degree 2; one of 1 node has degree 0), so drawing
them from two independent heads, as models saved before ``PARDConfig.degree_given_size`` existed do, pairs sizes with
impossible degrees (figures: the ``qm9`` model card, section "Why stage 4"). ``graphgen train pard --init MODEL
--heads-only`` gives an old model the joint head and fits it on the frozen denoiser.

Deviation: the paper draws the first block's size from the training distribution. Here the same size/degree head
predicts it from a learned start token (``network.start``); that head is trained by cross-entropy on the training
graphs' first blocks, so it models the same empirical distribution with one code path for every block ("stop" is
masked out for the first block).

Graph layout in and out: molecules as in ``graphgen.data.molecules`` (``x`` atom type, ``edge_index`` both
directions, ``edge_attr`` bond type 0/1/2 = edge class 1/2/3 here, ``charge`` zeros); plain graphs with
``edge_index`` and ``num_nodes`` only (``num_node_types=1``, ``num_edge_types=2``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_dense_adj, to_dense_batch

from graphgen.errors import InputError
from graphgen.generate.base import Generator, SampleOptionError, check_sample_options
from graphgen.generate.pard.blocks import block_decomposition
from graphgen.generate.pard.diffusion import CategoricalDiffusion, jump_schedule, sample_categorical
from graphgen.generate.pard.fused import BlockDenoiser, FusedBlockDenoiser
from graphgen.generate.pard.network import PARDNetwork


@dataclass
class PARDConfig:
    """Everything that builds a :class:`PARDGenerator` (saved verbatim in ``config.json``).

    Data-derived values (``max_block_size``, ``max_degree``, ``max_nodes``) are measured on the training set by
    ``graphgen train pard`` before the model is built; the noise marginals are buffers saved with the weights.
    """

    num_node_types: int = 4  # atom types (qm9: C, N, O, F); 1 for plain graphs
    num_edge_types: int = 4  # including class 0 = no edge (qm9: none, single, double, triple)
    vocab: str | dict | None = "qm9"  # VOCABS name or MoleculeVocab.to_dict() (resolve_vocab); None: plain graphs
    max_hops: int = 1  # K of the hashed multi-hop degree (block decomposition)
    num_steps: int = 50  # T, diffusion steps per block
    noise: str = "marginal"  # "marginal" or "uniform" limit distribution
    # sized for a 2-core CPU (the bundled qm9 model's network, 223k parameters); PARD's paper: 256 / 64 / 8 / 8
    # (5.3M parameters), about 4x the memory and time per step (issue 22: train/configs/pard.yaml has the figures)
    hidden: int = 64
    edge_hidden: int = 32
    num_layers: int = 4
    heads: int = 4
    dropout: float = 0.0
    max_block_size: int = 9  # size classes 0..max_block_size (0 = stop)
    max_degree: int = 4  # block-degree classes 0..max_degree
    max_nodes: int = 9  # sampling stops growing a graph at this many nodes
    vlb_weight: float = 1.0
    ce_weight: float = 0.1
    size_weight: float = 1.0
    # p(degree | size, prefix) instead of two independent heads. Configs saved before this field existed load with
    # False (PARDGenerator.config_from_dict), the head they were trained with.
    degree_given_size: bool = True

    def __post_init__(self) -> None:
        if self.noise not in ("marginal", "uniform"):
            raise ValueError(f"noise must be 'marginal' or 'uniform', got {self.noise!r}")
        if self.num_edge_types < 2:
            raise ValueError("num_edge_types counts 'no edge' as class 0, so it must be >= 2")


def prepare_graph(data: Data, max_hops: int) -> Data:
    """A shallow copy of ``data`` with ``block`` (long ``[N]``, 0 = generated first) from the PARD decomposition."""
    out = data.clone()
    out.block = block_decomposition(data.edge_index, int(data.num_nodes), max_hops=max_hops)
    return out


def _block_stats(E: Tensor, Bk: Tensor, mask: Tensor, num_levels: int) -> tuple[Tensor, Tensor]:
    """Per graph and block ``g = 0..num_levels+1``: size and degree (in blocks ``<= g``). Both long ``[B, L+2]``."""
    B = Bk.size(0)
    sizes = torch.zeros(B, num_levels + 2, dtype=torch.long)
    sizes.scatter_add_(1, Bk * mask, mask.long())
    sizes[:, 0] = 0
    earlier = (Bk.unsqueeze(1) <= Bk.unsqueeze(2)) & mask.unsqueeze(1) & mask.unsqueeze(2)
    deg = ((E > 0) & earlier).sum(-1)  # [B, N] degree inside blocks <= own block
    degrees = torch.zeros(B, num_levels + 2, dtype=torch.long)
    degrees.scatter_reduce_(1, Bk * mask, deg * mask, reduce="amax")
    degrees[:, 0] = 0
    return sizes, degrees


class PARDGenerator(Generator):
    """PARD: permutation-invariant autoregressive block diffusion. See the module docstring.

    Args:
        config: :class:`PARDConfig`.
    """

    generator_key = "pard"
    config_class = PARDConfig
    # the sampler's denoiser, built once per sample() call; fused.ReferenceBlockDenoiser is the unfused reference
    block_denoiser: ClassVar[type[BlockDenoiser]] = FusedBlockDenoiser

    def __init__(self, config: PARDConfig) -> None:
        super().__init__(config)
        c = config
        self.network = PARDNetwork(
            c.num_node_types, c.num_edge_types, c.hidden, c.edge_hidden, c.num_layers, c.heads, c.num_steps,
            c.max_block_size, c.max_degree, c.dropout, c.degree_given_size,
        )
        self.node_diffusion = CategoricalDiffusion(c.num_node_types, c.num_steps, torch.ones(c.num_node_types))
        self.edge_diffusion = CategoricalDiffusion(c.num_edge_types, c.num_steps, torch.ones(c.num_edge_types))

    def __repr__(self) -> str:
        c = self.config
        return (f"{type(self).__name__}(vocab={c.vocab}, max_hops={c.max_hops}, T={c.num_steps}, noise={c.noise}, "
                f"network={self.network!r}, params={self.num_parameters()})")

    @classmethod
    def config_from_dict(cls, d: dict[str, Any]) -> PARDConfig:
        """As the base class, except that a config without ``degree_given_size`` (saved before the joint head
        existed) gets ``False``: the independent size and degree heads its weights were trained with."""
        d = dict(d)
        d.setdefault("degree_given_size", False)
        return super().config_from_dict(d)

    # parameter-name prefixes of the next-block head: the start token, the size head and the degree head
    BLOCK_HEAD_PREFIXES = ("network.start", "network.size_head.", "network.degree_head.", "network.degree_size_embed.")

    def with_joint_block_head(self) -> "PARDGenerator":
        """This model with ``degree_given_size=True``: same weights plus a zero-initialised size embedding in the
        degree head (so it starts as the independent head). ``self`` if it already has one. Train the heads
        afterwards (``graphgen train pard --init ... --heads-only``)."""
        if self.config.degree_given_size:
            return self
        new = type(self)(dataclasses.replace(self.config, degree_given_size=True))
        missing, unexpected = new.load_state_dict(self.state_dict(), strict=False)
        if unexpected or set(missing) != {"network.degree_size_embed.weight"}:
            raise RuntimeError(f"upgrading the block head: missing {missing}, unexpected {unexpected}")
        return new

    # -- data ---------------------------------------------------------------------------------------------------
    def prepare(self, data: Data) -> Data:
        """Attach the block decomposition used by :meth:`loss` (do it once per dataset, it is pure Python)."""
        return prepare_graph(data, self.config.max_hops)

    @torch.no_grad()
    def set_marginals(self, graphs: list[Data]) -> tuple[Tensor, Tensor]:
        """Set the noise limit distributions from training graphs (uniform when ``config.noise == "uniform"``).

        The edge marginal counts every unordered node pair of each graph (class 0 = no edge). Returns (node, edge).
        """
        Kx, Ke = self.config.num_node_types, self.config.num_edge_types
        node = torch.ones(Kx)
        edge = torch.ones(Ke)
        if self.config.noise == "marginal":
            node = torch.zeros(Kx)
            edge = torch.zeros(Ke)
            for g in graphs:
                n = int(g.num_nodes)
                x = g.x if Kx > 1 else torch.zeros(n, dtype=torch.long)
                node += torch.bincount(x.view(-1), minlength=Kx).float()
                cls = self._edge_class(g)
                present = torch.bincount(cls[g.edge_index[0] < g.edge_index[1]], minlength=Ke).float()
                edge += present
                edge[0] += n * (n - 1) / 2 - present.sum()
        self.node_diffusion.limit.copy_(node / node.sum())
        self.edge_diffusion.limit.copy_(edge / edge.sum())
        return self.node_diffusion.limit.clone(), self.edge_diffusion.limit.clone()

    def _edge_class(self, data: Data) -> Tensor:
        if self.config.num_edge_types > 2:
            if getattr(data, "edge_attr", None) is None:
                raise ValueError(f"num_edge_types={self.config.num_edge_types} needs edge_attr (bond types) on the graphs")
            return data.edge_attr.view(-1).long() + 1
        return torch.ones(data.edge_index.size(1), dtype=torch.long)

    def _dense(self, batch: Batch) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(X [B, N], E [B, N, N], block [B, N] 1-based / 0 = padding, mask [B, N])`` from a PyG batch."""
        if getattr(batch, "block", None) is None:
            raise ValueError("batch has no `block`; run PARDGenerator.prepare(data) on every graph first")
        n = batch.num_nodes
        x = batch.x.view(-1).long() if self.config.num_node_types > 1 else torch.zeros(n, dtype=torch.long)
        X, mask = to_dense_batch(x, batch.batch)
        Bk, _ = to_dense_batch(batch.block + 1, batch.batch)
        E = to_dense_adj(batch.edge_index, batch.batch, self._edge_class(batch), max_num_nodes=X.size(1)).long()
        return X, E, Bk * mask, mask

    # -- network input ------------------------------------------------------------------------------------------
    def _forward(
        self, Xr: Tensor, Er: Tensor, Br: Tensor, mr: Tensor,
        Xv: Tensor, Evr: Tensor, Evv: Tensor, Bv: Tensor, mv: Tensor, tv: Tensor, sv: Tensor, dv: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Concatenate real ``[B, Nr]`` and virtual ``[B, S]`` slots and run the network.

        ``Er`` ``[B, Nr, Nr]`` real edges; ``Evr`` ``[B, S, Nr]`` virtual-to-real edges; ``Evv`` ``[B, S, S]``.
        """
        B, Nr = Xr.shape
        S = Xv.size(1)
        X = torch.cat([Xr, Xv], 1)
        E = torch.cat([torch.cat([Er, Evr.transpose(1, 2)], 2), torch.cat([Evr, Evv], 2)], 1)
        E = E.clone()
        E[:, torch.arange(Nr + S), torch.arange(Nr + S)] = self.config.num_edge_types  # diagonal marker
        virtual = torch.cat([torch.zeros_like(mr), torch.ones_like(mv)], 1)
        zeros = torch.zeros_like(Xr)
        return self.network(
            X, E, virtual, torch.cat([Br, Bv], 1), torch.cat([mr, mv], 1),
            torch.cat([zeros, tv], 1), torch.cat([zeros, sv], 1), torch.cat([zeros, dv], 1),
        )

    # -- training -----------------------------------------------------------------------------------------------
    def loss_terms(self, batch: Batch, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """All loss parts on a batch of prepared graphs (see :meth:`prepare`); ``"loss"`` is the weighted total."""
        c = self.config
        X, E, Bk, mask = self._dense(batch)
        B, N = X.shape
        L = int(Bk.max())
        t_blk = torch.randint(1, c.num_steps + 1, (B, L + 1), generator=generator)
        t = t_blk.gather(1, Bk)  # [B, N] per node: the step of its block
        Xt = self.node_diffusion.sample_xt(X, t, generator)
        Et_rows = self.edge_diffusion.sample_xt(E, t.unsqueeze(2).expand(B, N, N), generator)
        upper = torch.ones(N, N, dtype=torch.bool).triu(1)
        Et_sym = torch.where(upper, Et_rows, Et_rows.transpose(1, 2))
        same = Bk.unsqueeze(2) == Bk.unsqueeze(1)
        Evr = torch.where(same, Et_sym, Et_rows)
        sizes, degrees = _block_stats(E, Bk, mask, L)
        node_logits, edge_logits, summary = self._forward(
            X, E, Bk, mask, Xt, Evr, Et_sym, Bk, mask, t, sizes.gather(1, Bk), degrees.gather(1, Bk)
        )
        out: dict[str, Tensor] = {}
        zero = node_logits.new_zeros(())
        # nodes of every virtual block
        if c.num_node_types > 1:
            vlb, ce = self.node_diffusion.loss_terms(X, Xt, t, node_logits[:, N:])
            out["node_vlb"], out["node_ce"] = vlb[mask].mean(), ce[mask].mean()
        else:
            out["node_vlb"] = out["node_ce"] = zero
        # edges: virtual row a -> real column c of an earlier block, and a < c inside the same block
        valid = mask.unsqueeze(2) & mask.unsqueeze(1)
        earlier = valid & (Bk.unsqueeze(1) < Bk.unsqueeze(2))
        intra = valid & same & upper
        vr_logits, vv_logits = edge_logits[:, N:, :N], edge_logits[:, N:, N:]
        t_pair = t.unsqueeze(2).expand(B, N, N)
        vlb_vr, ce_vr = self.edge_diffusion.loss_terms(E, Evr, t_pair, vr_logits)
        vlb_vv, ce_vv = self.edge_diffusion.loss_terms(E, Et_sym, t_pair, vv_logits)
        num_pairs = (earlier.sum() + intra.sum()).clamp(min=1)
        out["edge_vlb"] = (vlb_vr[earlier].sum() + vlb_vv[intra].sum()) / num_pairs
        out["edge_ce"] = (ce_vr[earlier].sum() + ce_vv[intra].sum()) / num_pairs
        # next-block size and degree: prefix k = 0 (start token) .. num_blocks
        num_blocks = Bk.max(dim=1).values  # [B]
        prefix = torch.cat([self.network.start.expand(B, 1, -1), summary], 1)  # [B, L+1, H]
        out.update(self._block_head_terms(prefix, sizes, degrees, num_blocks))
        out["loss"] = (
            c.vlb_weight * (out["node_vlb"] + out["edge_vlb"])
            + c.ce_weight * (out["node_ce"] + out["edge_ce"])
            + c.size_weight * (out["size_ce"] + out["degree_ce"])
        )
        return out

    def _block_head_terms(self, prefix: Tensor, sizes: Tensor, degrees: Tensor, num_blocks: Tensor
                          ) -> dict[str, Tensor]:
        """Cross-entropy of the next-block size and degree heads. ``prefix`` ``[B, L+1, H]`` holds the start token
        and the summaries of blocks 1..L; the target of prefix ``k`` is block ``k+1`` (size 0 = stop). The degree
        head is teacher-forced with the true size."""
        c = self.config
        k = torch.arange(prefix.size(1))
        has = k.unsqueeze(0) <= num_blocks.unsqueeze(1)  # [B, L+1]
        size_t = sizes[:, 1:].clamp(max=c.max_block_size)
        degree_t = degrees[:, 1:].clamp(max=c.max_degree)
        size_logits = self.network.size_logits(prefix)
        degree_logits = self.network.degree_logits(prefix, size_t)
        ce = torch.nn.functional.cross_entropy
        return {"size_ce": ce(size_logits[has], size_t[has]), "degree_ce": ce(degree_logits[has], degree_t[has])}

    def block_head_loss_terms(self, batch: Batch) -> dict[str, Tensor]:
        """Size and degree cross-entropies only, from a real-node pass with no gradient into the trunk (for
        ``--heads-only`` training of the block heads on a frozen denoiser); ``"loss"`` is their weighted sum."""
        X, E, Bk, mask = self._dense(batch)
        L = int(Bk.max())
        with torch.no_grad():
            summary, _ = self.network.real_pass(X, self._with_diagonal(E), Bk, mask)
        sizes, degrees = _block_stats(E, Bk, mask, L)
        prefix = torch.cat([self.network.start.expand(X.size(0), 1, -1), summary], 1)
        out = self._block_head_terms(prefix, sizes, degrees, Bk.max(dim=1).values)
        out["loss"] = self.config.size_weight * (out["size_ce"] + out["degree_ce"])
        return out

    def loss(self, batch: Batch, *, generator: torch.Generator | None = None) -> Tensor:
        """Weighted training loss on a batch of graphs prepared by :meth:`prepare` (``block`` attribute)."""
        return self.loss_terms(batch, generator=generator)["loss"]

    # -- sampling -----------------------------------------------------------------------------------------------
    def _next_block(self, summary: Tensor, generator: torch.Generator | None, *, first: bool = False
                    ) -> tuple[Tensor, Tensor]:
        size_logits = self.network.size_logits(summary)
        if first:  # a graph has at least one node: the first block cannot be "stop"
            size_logits = size_logits.clone()
            size_logits[..., 0] = float("-inf")
        size = sample_categorical(torch.softmax(size_logits, -1), generator)
        # joint draw: the degree given the size just drawn (the independent head ignores ``size``)
        degree = sample_categorical(torch.softmax(self.network.degree_logits(summary, size), -1), generator)
        return size, degree

    @torch.no_grad()
    def sample(
        self,
        num_graphs: int,
        *,
        generator: torch.Generator | None = None,
        batch_size: int | None = None,
        progress: bool | None = None,
        callback: Callable[[dict[str, Any]], None] | None = None,
        **options: Any,
    ) -> list[Data]:
        """``num_graphs`` new graphs, all randomness from ``generator``.

        Args:
            num_graphs: how many graphs.
            generator: ``torch.Generator`` (same seed and arguments -> same graphs).
            batch_size: graphs sampled together (default: all at once).
            progress: a tqdm bar over graphs (``None``: when stderr is a terminal; ``False``: never).
            callback: sampling events (``graphgen.generate.base``): an ``"evaluation"`` event per network pass with
                ``"block"`` and ``"step"`` (the diffusion time ``t`` the pass denoises; ``None`` for the next-block
                size/degree prediction, which also reports ``"finished"``: graphs that stopped growing), and a
                ``"sampled"`` event per batch.
            options: ``steps`` (int ``K`` in ``1..T``, default ``T = config.num_steps``): network evaluations per
                block. The reverse chain visits ``tau_k = floor(k T / K)``, ``k = K..0``
                (:func:`~graphgen.generate.pard.diffusion.jump_schedule`), jumping from ``tau_k`` to ``tau_{k-1}``
                with the exact posterior ``q(x_s | x_t, x_0)`` mixed over the network's ``p(x_0 | x_t)`` (no
                retraining). ``K = T`` is the one-step chain the model was trained for, and gives the same graphs
                as before ``steps`` existed.
        """
        name = f"{type(self).__name__}.sample"
        check_sample_options(name, options, ["steps"])
        steps = options.get("steps", self.config.num_steps)
        try:
            times = jump_schedule(self.config.num_steps, steps)
        except InputError as err:
            raise SampleOptionError(f"{name}: {err}; fewer steps sample faster at some cost in quality") from None
        was_training = self.training
        self.eval()
        batch_size = batch_size or max(num_graphs, 1)
        out: list[Data] = []
        bar = None

        def report(event: dict[str, Any]) -> None:
            if bar is not None and event.get("finished"):
                bar.update(event["finished"])
            if callback is not None:
                callback(event)

        if progress is not False:
            from tqdm.auto import tqdm

            from graphgen.generate.base import progress_options

            bar = tqdm(total=num_graphs, unit="graph", desc="sampling", **progress_options(progress))
        try:
            denoiser = self.block_denoiser(self.network)  # reads the current weights (fused ones are copies)
            for start in range(0, num_graphs, batch_size):
                n = min(batch_size, num_graphs - start)
                with torch.inference_mode():  # no autograd bookkeeping at all; the graphs are built outside it
                    chunk = self._sample_chunk(n, generator, report, denoiser, times)
                out.extend(self._to_data(*graph) for graph in zip(*chunk))
                if bar is not None:  # graphs finish as their size head says stop; settle the count per chunk
                    bar.update(len(out) - bar.n)
                if callback is not None:
                    callback({"kind": "sampled", "num_graphs": n})
        finally:
            if bar is not None:
                bar.close()
            self.train(was_training)
        return out

    def _sample_chunk(self, B: int, generator: torch.Generator | None, callback: Callable, denoiser: BlockDenoiser,
                      times: list[int]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Sample ``B`` graphs; returns their dense ``(X, E, block, mask)`` (``[B, N]``, ``[B, N, N]``, ...). Each
        block runs the reverse chain over ``times`` (descending, ending at 0) with ``denoiser``."""
        c = self.config
        Xr = torch.zeros(B, 0, dtype=torch.long)
        Er = torch.zeros(B, 0, 0, dtype=torch.long)
        Br = torch.zeros(B, 0, dtype=torch.long)
        mr = torch.zeros(B, 0, dtype=torch.bool)
        size, degree = self._next_block(self.network.start.expand(B, -1), generator, first=True)
        callback({"kind": "evaluation", "num_graphs": B, "block": 0, "step": None, "finished": 0})
        block_id = 1
        # per-layer cache of the real nodes (they never see virtual ones), from the last real-only pass
        _, cache = self.network.real_pass(Xr, self._with_diagonal(Er), Br, mr)
        cache_idx = torch.arange(B)
        while True:
            count = mr.sum(1)
            size = torch.minimum(size, (c.max_nodes - count).clamp(min=0))
            active = size > 0
            if not bool(active.any()):
                break
            idx = active.nonzero().view(-1)
            Ba, S = idx.numel(), int(size[idx].max())
            er, m_r = Er[idx], mr[idx]
            Nr = er.size(1)
            pos = torch.searchsorted(cache_idx, idx)  # active graphs are a subset of the cached ones
            layer_cache = [{k: v[pos] for k, v in layer.items()} for layer in cache]
            mv = torch.arange(S).unsqueeze(0) < size[idx].unsqueeze(1)  # [Ba, S]
            bv = torch.full((Ba, S), block_id, dtype=torch.long) * mv
            sv = size[idx].unsqueeze(1).expand(Ba, S)
            dv = degree[idx].unsqueeze(1).expand(Ba, S)
            vr_valid = mv.unsqueeze(2) & m_r.unsqueeze(1)  # [Ba, S, Nr]
            upper = torch.ones(S, S, dtype=torch.bool).triu(1)
            vv_valid = mv.unsqueeze(2) & mv.unsqueeze(1) & upper
            xv = self.node_diffusion.sample_prior((Ba, S), generator) * mv
            evr = self.edge_diffusion.sample_prior((Ba, S, Nr), generator) * vr_valid
            evv = self.edge_diffusion.sample_prior((Ba, S, S), generator) * vv_valid
            evv = evv + evv.transpose(1, 2)
            block = denoiser.start_block(layer_cache, m_r, mv, sv, dv)
            for step, to in zip(times[:-1], times[1:]):
                node_logits, vr_logits, vv_logits = denoiser.denoise(block, xv, evr, evv, step)
                callback({"kind": "evaluation", "num_graphs": Ba, "block": block_id, "step": step})
                t, s = torch.tensor(step), torch.tensor(to)
                px = self.node_diffusion.posterior(xv, torch.softmax(node_logits, -1), t, s)
                xv = sample_categorical(px, generator) * mv
                pvr = self.edge_diffusion.posterior(evr, torch.softmax(vr_logits, -1), t, s)
                evr = sample_categorical(pvr, generator) * vr_valid
                pvv = self.edge_diffusion.posterior(evv, torch.softmax(vv_logits, -1), t, s)
                evv = sample_categorical(pvv, generator) * vv_valid
                evv = evv + evv.transpose(1, 2)
            # append the new block to the active graphs, then compact valid slots to the front
            Xr = torch.cat([Xr, torch.zeros(B, S, dtype=torch.long)], 1)
            Br = torch.cat([Br, torch.zeros(B, S, dtype=torch.long)], 1)
            mr = torch.cat([mr, torch.zeros(B, S, dtype=torch.bool)], 1)
            Er = torch.nn.functional.pad(Er, (0, S, 0, S))
            Xr[idx, Nr:], Br[idx, Nr:], mr[idx, Nr:] = xv, bv, mv
            new_e = torch.cat([torch.cat([er, evr.transpose(1, 2)], 2), torch.cat([evr, evv], 2)], 1)
            Er[idx] = new_e
            order = torch.argsort((~mr).long(), dim=1, stable=True)
            width = int(mr.sum(1).max())
            order = order[:, :width]
            Xr, Br, mr = Xr.gather(1, order), Br.gather(1, order), mr.gather(1, order)
            Er = Er.gather(1, order.unsqueeze(2).expand(-1, -1, Er.size(2))).gather(2, order.unsqueeze(1).expand(-1, width, -1))
            # next block size and degree from the real graph (blocks <= block_id) of the active graphs
            summary, cache = self.network.real_pass(Xr[idx], self._with_diagonal(Er[idx]), Br[idx], mr[idx])
            cache_idx = idx
            new_size, new_degree = self._next_block(summary[:, block_id - 1], generator)
            size = torch.zeros(B, dtype=torch.long)
            degree = torch.zeros(B, dtype=torch.long)
            size[idx], degree[idx] = new_size, new_degree
            done = (new_size == 0) | (mr[idx].sum(1) >= c.max_nodes)
            callback({"kind": "evaluation", "num_graphs": Ba, "block": block_id, "step": None,
                      "finished": int(done.sum())})
            block_id += 1
        return Xr, Er, Br, mr

    def _with_diagonal(self, E: Tensor) -> Tensor:
        """Edge types ``[B, N, N]`` with the diagonal set to the network's self-pair marker (class ``Ke``)."""
        E = E.clone()
        n = E.size(1)
        E[:, torch.arange(n), torch.arange(n)] = self.config.num_edge_types
        return E

    def _to_data(self, x: Tensor, e: Tensor, block: Tensor, mask: Tensor) -> Data:
        x, e, block = x[mask], e[mask][:, mask], block[mask] - 1
        n = x.numel()
        edge_index = (e > 0).nonzero().t().contiguous()  # both directions, sorted by (row, col)
        data = Data(edge_index=edge_index, num_nodes=n, block=block)
        if self.config.num_node_types > 1:
            data.x = x
        if self.config.vocab is not None:
            data.charge = torch.zeros(n, dtype=torch.long)
        if self.config.num_edge_types > 2:
            data.edge_attr = e[edge_index[0], edge_index[1]] - 1
        return data
