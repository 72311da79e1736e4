"""graphgen: graph generation, graph-transformer layers and published evaluators on PyTorch + PyG."""

__version__ = "0.1.0"
