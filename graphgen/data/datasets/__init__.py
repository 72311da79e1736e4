"""Dataset families: ``base`` (spec, cache, ``GraphDataset``), ``generic`` (graph-JSON sets), ``molecules``, and
``user`` (a user's own SMILES / CSV / graph JSON / edge-list file).

Users go through :mod:`graphgen.data.registry` (``DATASETS``, ``load_dataset``).
"""
