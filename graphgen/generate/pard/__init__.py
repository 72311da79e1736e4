"""PARD: permutation-invariant autoregressive block diffusion (Zhao et al., 2024).

- :mod:`~graphgen.generate.pard.blocks`: the block order (hashed multi-hop degree, peeled from the periphery, reversed).
- :mod:`~graphgen.generate.pard.diffusion`: categorical diffusion (cosine schedule, uniform or marginal noise).
- :mod:`~graphgen.generate.pard.network`: the block-causal PPGN-transformer denoiser.
- :mod:`~graphgen.generate.pard.fused`: the sampler's fast path of that denoiser (packed pairs, fused products).
- :mod:`~graphgen.generate.pard.model`: :class:`PARDGenerator` (``loss``, ``sample``, ``save_pretrained``,
  ``from_pretrained``) and :class:`PARDConfig`.
- :mod:`~graphgen.generate.pard.train`: ``graphgen train pard --dataset NAME``.
"""
