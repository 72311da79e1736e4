"""Every dataset graphgen knows, by the name a user types: ``DATASETS`` (one dict literal) and :func:`load_dataset`.

:func:`load_dataset` also takes the path of a user's own file (SMILES / CSV molecules, graph JSON / edge-list
graphs); :mod:`graphgen.data.datasets.user` reads it and ``datasets/user_files.md`` describes the formats.

Each entry declares its raw files (path relative to the data root, sha256, public source URL) and its published
split; ``datasets/<name>.md`` is the card (source, licence, split, processing decisions). Converted files
(``downloadable=False``) name the upstream file they were made from; verbatim copies name their raw URL.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from graphgen.data.datasets.base import DatasetSpec, GraphDataset
from graphgen.data.datasets.generic import GDSSGraphSpec, StoredSplitGraphSpec
from graphgen.data.datasets.hetero import AMinerSpec, RetailRocketSpec
from graphgen.data.datasets.lane_graphs import LaneGraphSpec
from graphgen.data.datasets.molecules import (
    GDSSMoleculeSpec,
    MolHIVSpec,
    SplitFilesMoleculeSpec,
    Zinc12kSpec,
)
from graphgen.data.datasets.scene_graphs import CocoSceneGraphSpec
from graphgen.data.datasets.user import UserDataset, accepted_suffixes, file_format, load_user_dataset
from graphgen.data.molecules import VOCABS
from graphgen.data.raw import RawFile
from graphgen.errors import GraphgenError

if TYPE_CHECKING:
    from torch_geometric.data import HeteroData

_GDSS = "https://github.com/harryjo97/GDSS/blob/24cc490e0c5b39cbd265fda33ab2bc8b528d4454"
_GDSS_RAW = "https://raw.githubusercontent.com/harryjo97/GDSS/24cc490e0c5b39cbd265fda33ab2bc8b528d4454"
_BERGMEISTER = "https://github.com/AndreasBergmeister/graph-generation/blob/462597836ac8902d0b61d67aaa88ffc1c42729c2"
_MOSES_NOTE = ("It is a verbatim copy of moses/dataset/data/{name}.csv.gz from the PyPI wheel molsets-0.3.1 "
               "(`pip download --no-deps molsets==0.3.1`, unzip, rename to molecules/moses_{name}.csv.gz).")
_CONVERTED = "A converted copy ships in the project's shared data folder; datasets/{card}.md says how it was made."
_COCO_SG = RawFile(
    "scene_graphs/coco2017_subset_sg.json.gz",
    "6def58aa7a00878ca59f7ce9f9a68fbf9e649ec7998b0aa6ff338bdbab58b813",
    "https://cocodataset.org/#download",
    downloadable=False,
    note="Assembled from small public subsets of the COCO 2017 instances_*.json files (boxes and categories of 483 "
         "images, relations derived); it ships in the project's shared data folder, datasets/coco_sg.md says how "
         "it was made.")
_DIFFGRAPH = "https://github.com/HKUDS/DiffGraph/blob/91a743c39eb080842c02e2776658546e2541a6c2"
_DIFFGRAPH_RAW = "https://raw.githubusercontent.com/HKUDS/DiffGraph/91a743c39eb080842c02e2776658546e2541a6c2"
_RETAIL_NOTE = ("Converted from DiffGraph's pickle {name}.pkl to a pickle-free scipy.sparse.save_npz file "
                "(same values); it ships in the project's shared data folder, datasets/retail_rocket.md says how.")
_AMINER_SHA256 = {
    "labels.npy": "51a0500d6f74ee8745fc2d0f85c38dcdba064878980b890d5a347f29d68b531d",
    "pa.txt": "6e644c162db67840a414483890fe052fafa4deb4a3c5fa5a31e9bf7d87236885",
    "pr.txt": "04238431ee02107b88883b689c9920d77a5a718aca39b85cf7aa77f77aad1e5f",
    "pap.npz": "058b211cfb6bcf130a9cf6b1c1e338d8fabf09cd8ef5888f7d7ba7064deef825",
    "prp.npz": "4f63835c4b0a7d8e62beb78823d5d3ec906ce49d2ed51f54450a8edbdc471303",
    "pos.npz": "90d51988c0b086e04bcd399efda5779c80cded0a9b39ed068cb85e623ea8db00",
    "train_20.npy": "609d9d70352f3a3db56a6c3e0ea97a2a5b8d943494b284fc61e747e00cc3c04e",
    "train_40.npy": "8c96436b60a5b43cbda238a8c3bea7ace6d43e17652f3d8d81bf4effcfe15e36",
    "train_60.npy": "99a1d9510d177e6f68b68c7ffc4e69d7cb6118c53e8d343ac48ef4eeb2ae6ed5",
    "val_20.npy": "5ac76f040e62102026bc4202328b708fe8a6a1b8c99119d78eadbe7494db5eb8",
    "val_40.npy": "b91f42687b34b6d306dcbb94b7cd5b9428dceaf2e4fe391d9b86a92ba2a94b4d",
    "val_60.npy": "74fa03079f8117223a845764de01d66139ea9767385f8cfc58cc6d9b0d7cc65c",
    "test_20.npy": "78a07809ebe756e471ad076b09847fbc87baf2813afab5d5a7888f1d7fa5edbd",
    "test_40.npy": "6317d3a093fccec5c5daa3c4dd196c2281c9735d0d8204d38069bb5588415d79",
    "test_60.npy": "0849876c17c16b23b64d7a7bf044ab7ae1012f5d18832583bd854af5d9dd5705",
}

DATASETS: dict[str, DatasetSpec] = {
    "qm9": GDSSMoleculeSpec(
        name="qm9",
        description="QM9: 133,885 small organic molecules (<= 9 heavy atoms C,N,O,F); GDSS split 120,803 / 13,082",
        card="datasets/qm9.md",
        raw={
            "smiles": RawFile(
                "molecules/qm9_smiles.csv.gz",
                "e890c8e45032349e1cfe5bd0b162cac7999a7d864349e54a64124479fa754b65",
                "https://github.com/aspuru-guzik-group/selfies/blob/eb6177e5f20cfd8787f2ac4423f5b38dce6eeeb8/"
                "tests/test_sets/qm9.csv",
                downloadable=False, note=_CONVERTED.format(card="qm9")),
            "test_idx": RawFile(
                "molecules/valid_idx_qm9.json",
                "889fd232a33d8a2c00f057c807b119e72abd5baa48f6fab93e8d8b7a79340f4d",
                f"{_GDSS_RAW}/data/valid_idx_qm9.json",
                downloadable=True),
            "properties": RawFile(
                "molecules/qm9_properties_qm9pack.csv.gz",
                "7a0d012dd037b62de1299779761ad261b989ed3fc4be1bd4bc554f478bda9f64",
                "https://pypi.org/project/qm9pack/1.0.3/",
                downloadable=False, note=_CONVERTED.format(card="qm9")),
        },
        splits=("train", "test"),
        vocab=VOCABS["qm9"],
        smiles_column="SMILES1",
        test_index_key="valid_idxs",
    ),
    "zinc250k": GDSSMoleculeSpec(
        name="zinc250k",
        description="ZINC250k: 249,455 drug-like molecules (<= 38 heavy atoms); GDSS split 224,568 / 24,887",
        card="datasets/zinc250k.md",
        raw={
            "smiles": RawFile(
                "molecules/zinc250k.csv.gz",
                "d54ca3eaa495059acec849dddc2eef12e4dbbe6af63b167a0fba4de0d56a669e",
                "https://github.com/wenhao-gao/mol_opt/blob/2da631be85af8d10a2bb43f2de76a03171166190/data/zinc.txt.gz",
                downloadable=False, note=_CONVERTED.format(card="zinc250k")),
            "test_idx": RawFile(
                "molecules/valid_idx_zinc250k.json",
                "cf1af3a8588c947493ff0a2b60178db6726e9a4dbb445235b149cd3bbe6831df",
                f"{_GDSS_RAW}/data/valid_idx_zinc250k.json",
                downloadable=True),
        },
        splits=("train", "test"),
        vocab=VOCABS["zinc250k"],
        smiles_column="smiles",
        test_index_key=None,
    ),
    "moses": SplitFilesMoleculeSpec(
        name="moses",
        description="MOSES benchmark (ZINC clean leads): train 1,584,663 / test 176,074 / test_scaffolds 176,225",
        card="datasets/moses.md",
        raw={
            split: RawFile(
                f"molecules/moses_{split}.csv.gz", sha,
                "https://pypi.org/project/molsets/0.3.1/",
                downloadable=False, note=_MOSES_NOTE.format(name=split))
            for split, sha in (
                ("train", "786f0313aa6b9ba5514df685f885742a70ea8d86f1a4fa48115f7f80a634265c"),
                ("test", "f896fbf3764f88d94670b9959e5872c600c12152a18233823e820761b7a791b2"),
                ("test_scaffolds", "adffb2192c1bfe31ab0e13154d4af19a37dc18bdbf3cd7b4491e04405128adde"),
            )
        },
        splits=("train", "test", "test_scaffolds"),
        vocab=VOCABS["moses"],
        smiles_column="SMILES",
    ),
    "zinc12k": Zinc12kSpec(
        name="zinc12k",
        description="ZINC-12k (benchmarking-gnns subset) 10,000 / 1,000 / 1,000, penalized-logP regression "
                    "(targets recomputed)",
        card="datasets/zinc12k.md",
        raw={
            "csv": RawFile(
                "molecules/zinc12k_benchmarking_gnns.csv.gz",
                "c14726ca6f1b1ca28e372b4460a0c12854015015f5b13241679e09c7004dee30",
                "https://github.com/graphdeeplearning/benchmarking-gnns/tree/"
                "b6c407712fa576e9699555e1e035d1e327ccae6c/data/molecules",
                downloadable=False, note=_CONVERTED.format(card="zinc12k")),
        },
        splits=("train", "val", "test"),
    ),
    "ogbg-molhiv": MolHIVSpec(
        name="ogbg-molhiv",
        description="ogbg-molhiv (MoleculeNet HIV, 41,127 molecules), OGB features, recomputed scaffold split "
                    "32,901 / 4,113 / 4,113",
        card="datasets/ogbg-molhiv.md",
        raw={
            "csv": RawFile(
                "molecules/hiv_moleculenet.csv.gz",
                "5d9135475561c75fb6222bddb3d9b2410f339832bf3592413c02e30a0ae9b5e3",
                "https://github.com/federicoamorin2/graph_hiv_copy/blob/62986332d9036ce0186a7dccfa4ba1052614d3fa/"
                "data/HIV.csv",
                downloadable=False, note=_CONVERTED.format(card="ogbg-molhiv")),
            "split": RawFile(
                "molecules/hiv_scaffold_split_recomputed.csv.gz",
                "7c404f3c3a2f065148d6e9af5a62768bc568ec55b839045661ae0e2b8d13e6e2",
                "https://github.com/snap-stanford/pretrain-gnns/blob/master/chem/splitters.py",
                downloadable=False,
                note="Recomputed with the pretrain-gnns scaffold_split algorithm; see datasets/ogbg-molhiv.md."),
        },
        splits=("train", "val", "test"),
    ),
    "community_small": GDSSGraphSpec(
        name="community_small",
        description="GDSS community_small: 100 two-community graphs, 12-20 nodes; split 80 / 20",
        card="datasets/community_small.md",
        raw={"graphs": RawFile(
            "generic/community_small.json",
            "3c4f4206cba37941e3f4ee7b5e30cc885e122fccd89cb338fd95e5b354677976",
            f"{_GDSS}/data/community_small.pkl",
            downloadable=False, note=_CONVERTED.format(card="community_small"))},
        splits=("train", "test"),
    ),
    "ego_small": GDSSGraphSpec(
        name="ego_small",
        description="GDSS ego_small: 200 Citeseer ego graphs, 4-17 nodes; split 160 / 40",
        card="datasets/ego_small.md",
        raw={"graphs": RawFile(
            "generic/ego_small.json",
            "5f126a8c6e6715d98e237e13816536b2fa7046457d4ad8b6a540076a541ab670",
            f"{_GDSS}/data/ego_small.pkl",
            downloadable=False, note=_CONVERTED.format(card="ego_small"))},
        splits=("train", "test"),
    ),
    "grid": GDSSGraphSpec(
        name="grid",
        description="GDSS grid: 100 2-D grid graphs, 110-361 nodes; split 80 / 20",
        card="datasets/grid.md",
        raw={"graphs": RawFile(
            "generic/grid.json",
            "0532c626bd3190de0e9a77a0f6136d883103e2cbb1528553e80edcfc7c15f10e",
            f"{_GDSS}/data/grid.pkl",
            downloadable=False, note=_CONVERTED.format(card="grid"))},
        splits=("train", "test"),
    ),
    "enzymes": GDSSGraphSpec(
        name="enzymes",
        description="GDSS ENZYMES: 587 protein graphs, 10-125 nodes; split 470 / 117",
        card="datasets/enzymes.md",
        raw={"graphs": RawFile(
            "generic/enzymes_gdss.json",
            "80b26f7844dd604aa3efeddc184b2746759251c13be7a05626349857e4d0d069",
            f"{_GDSS}/data/ENZYMES.pkl",
            downloadable=False, note=_CONVERTED.format(card="enzymes"))},
        splits=("train", "test"),
    ),
    "comm20": StoredSplitGraphSpec(
        name="comm20",
        description="SPECTRE/DiGress comm20: 100 two-community graphs, 12-20 nodes; split 64 / 16 / 20",
        card="datasets/comm20.md",
        raw={"graphs": RawFile(
            "generic/comm20_spectre.json",
            "7452bc962a72c9472c43fde749c3d57ff051c41bf3b6db066be6e50ce49a473c",
            "https://github.com/KarolisMart/SPECTRE/blob/f676c0d55fe0eba2fbf10133291c9aeac89423e6/"
            "data/community_12_21_100.pt",
            downloadable=False, note=_CONVERTED.format(card="comm20"))},
        splits=("train", "val", "test"),
    ),
    "planar": StoredSplitGraphSpec(
        name="planar",
        description="SPECTRE planar: 200 planar graphs with 64 nodes; split 128 / 32 / 40",
        card="datasets/planar.md",
        raw={"graphs": RawFile(
            "generic/planar_spectre.json",
            "7be6b974e2029a2be7978695628d5c18c98b7841c88de849fc741bb88c627ecf",
            f"{_BERGMEISTER}/data/planar.pkl",
            downloadable=False, note=_CONVERTED.format(card="planar"))},
        splits=("train", "val", "test"),
    ),
    "sbm": StoredSplitGraphSpec(
        name="sbm",
        description="SPECTRE SBM: 200 stochastic-block-model graphs, 44-187 nodes; split 128 / 32 / 40",
        card="datasets/sbm.md",
        raw={"graphs": RawFile(
            "generic/sbm_spectre.json.gz",
            "98a927828f2c9c381cb46fd49d41ea3b2a97a7fd428b2af20a8617cc0be31529",
            f"{_BERGMEISTER}/data/sbm.pkl",
            downloadable=False, note=_CONVERTED.format(card="sbm"))},
        splits=("train", "val", "test"),
    ),
    "tree": StoredSplitGraphSpec(
        name="tree",
        description="Random trees with 64 nodes (Bergmeister et al. 2024); split 128 / 32 / 40",
        card="datasets/tree.md",
        raw={"graphs": RawFile(
            "generic/tree_bergmeister.json",
            "60d98bbde82a8da016ce86910d2ad57916cd5faf26ce16c6af7e18438719ae90",
            f"{_BERGMEISTER}/data/tree.pkl",
            downloadable=False, note=_CONVERTED.format(card="tree"))},
        splits=("train", "val", "test"),
    ),
    "coco_sg": CocoSceneGraphSpec(
        name="coco_sg",
        description="COCO 2017 scene graphs (483 real images, <= 32 largest non-crowd objects, 6 sg2im relations "
                    "on every pair); train2017 / val2017 by id parity: 295 / 92 / 96 images",
        card="datasets/coco_sg.md",
        raw={"records": _COCO_SG},
        splits=("train", "val", "test"),
    ),
    "coco_sg2im": CocoSceneGraphSpec(
        name="coco_sg2im",
        description="sg2im view of coco_sg: eligible images, objects >= 2% of the image (3-8 per image); "
                    "137 / 42 / 41 images",
        card="datasets/coco_sg2im.md",
        raw={"records": _COCO_SG},
        splits=("train", "val", "test"),
        sg2im_only=True,
    ),
    "lanes": LaneGraphSpec(
        name="lanes",
        description="Lane graphs: 64 m ego-centred crops of 145 real lane maps (CommonRoad, Argoverse 2, Lanelet2), "
                    "<= 50 lanes x 20 points, successor edges; split by map (111 / 12 / 22 maps): 7,180 / 429 / 730 "
                    "scenes",
        card="datasets/lanes.md",
        raw={"maps": RawFile(
            "lane_graphs/maps.json.gz",
            "a2a3611d83fba3c7143d61cd60a9a6ffded9dc454f56a93830380174344caf8c",
            "https://github.com/CommonRoad/commonroad-scenario-designer/tree/e3baf5cbe9f761980e64c1c63529e5bf9f6219d5",
            downloadable=False,
            note="Assembled from public map repositories (CommonRoad scenario maps, Argoverse 2 test maps, the "
                 "Lanelet2 example map; per-map repository, path and commit inside the file); it ships in the "
                 "project's shared data folder, datasets/lanes.md says how it was made.")},
        splits=("train", "val", "test"),
    ),    "retail_rocket": RetailRocketSpec(
        name="retail_rocket",
        description="Retail Rocket (DiffGraph-Rec): one graph, 2,174 users x 30,113 items, view / cart / buy; "
                    "leave-one-out test purchase per user, validation = latest training purchase of 885 users",
        card="datasets/retail_rocket.md",
        raw={
            role: RawFile(
                f"hetero/retail_rocket/{stem}.npz", sha,
                f"{_DIFFGRAPH}/DiffGraph-Rec/data/retail_rocket/{stem}.pkl",
                downloadable=False, note=_RETAIL_NOTE.format(name=stem))
            for role, stem, sha in (
                ("view", "train_mat_view", "383716f21c0a4eefcd639418a088b720bcb448b796194b73ac566051691c44e1"),
                ("cart", "train_mat_cart", "021eb64d156d081ef27b474093e604109c760a487f647f326dadb36b6f6428b2"),
                ("buy", "train_mat_buy", "5913f1f1ff4f68905a73bea8e978bc070a6003f4179e5bc93062d31bdb0fca66"),
                ("test", "test_mat", "f3d05599952245396c3409883855461b7f266601de54be0e7f7631b513258984"),
            )
        },
        splits=("all",),
    ),
    "aminer": AMinerSpec(
        name="aminer",
        description="AMiner (DiffGraph_NC / HeCo): one graph, 6,564 papers (4 classes), 13,329 authors, 35,890 "
                    "references, PAP / PRP / POS meta-paths; 20 / 40 / 60 labels per class, val / test 1,000 papers",
        card="datasets/aminer.md",
        raw={
            file.rsplit(".", 1)[0]: RawFile(
                f"hetero/aminer/{file}", sha, f"{_DIFFGRAPH_RAW}/DiffGraph_NC/data/aminer/{file}", downloadable=True)
            for file, sha in _AMINER_SHA256.items()
        },
        splits=("all",),
    ),
}


class UnknownDatasetError(GraphgenError, KeyError):
    """Neither a registered dataset name nor an existing file (a ``KeyError`` whose message prints unquoted)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def get_spec(name: str) -> DatasetSpec:
    """The spec registered under ``name`` (error lists the known names)."""
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(f"unknown dataset '{name}'; known datasets: {', '.join(DATASETS)}") from None


# keyword options of load_user_dataset that load_dataset passes through, with their defaults
_FILE_OPTION_DEFAULTS = {"fractions": None, "split_file": None, "max_nodes": None, "kekulize": True, "quiet": False}


def default_split(spec: DatasetSpec) -> str:
    """The split ``load_dataset`` reads when none is given: ``"train"`` for sets of graphs, else the spec's only split
    (``"all"`` for the single-graph sets ``retail_rocket`` and ``aminer``)."""
    return "train" if "train" in spec.splits else spec.splits[0]


def load_dataset(name_or_path: str | os.PathLike, split: str | None = None, *,
                 data_dir: str | os.PathLike | None = None, download: bool = False, num_workers: int | None = None,
                 seed: int = 0, **file_options) -> GraphDataset | UserDataset | HeteroData:
    """Load ``split`` of a registered dataset (building its cache on first use) or of a user's data file.

    Args:
        name_or_path: a key of :data:`DATASETS`, else the path of an existing file (``.smi`` / ``.smiles`` /
            ``.txt`` / ``.csv`` molecules, ``.json`` / ``.edges`` / ``.edgelist`` graphs, each optionally ``.gz``;
            see :func:`graphgen.data.datasets.user.load_user_dataset`).
        split: ``"train"``, ``"test"``, and ``"val"`` / ``"test_scaffolds"`` where the dataset defines them; a user
            file has ``"train"`` / ``"val"`` / ``"test"`` (or the split names it stores) and ``"all"``. ``None``
            (default) means the dataset's default (:func:`default_split`): ``"train"``, except ``"all"`` for the
            single-graph sets ``retail_rocket`` and ``aminer``, which return one ``HeteroData`` holding their
            train / val / test parts as attributes (any other split is an ``InputError``).
        data_dir: folder holding the raw files of registered datasets (default ``$GRAPHGEN_DATA``, else
            ``./datasets``); a file path is used as given.
        download: fetch missing files that have a direct URL (``RawFile.downloadable``).
        num_workers: processes used to build the cache / convert a user file (default: all cores).
        seed: user files only: seed of the drawn split (default 0); registered datasets keep their published split.
        **file_options: user files only: ``fractions``, ``split_file``, ``max_nodes``, ``kekulize``, ``quiet``
            (passing their defaults with a registered name is allowed, so a trainer can pass them unconditionally).

    Raises:
        UnknownDatasetError: (a ``KeyError``) neither a registered name nor an existing file; the message lists the
            registered names and the accepted file endings.
    """
    name = os.fspath(name_or_path)
    unknown = sorted(set(file_options) - set(_FILE_OPTION_DEFAULTS))
    if unknown:
        raise TypeError(f"load_dataset got unknown option(s) {unknown}; file options: {sorted(_FILE_OPTION_DEFAULTS)}")
    if name in DATASETS:
        # a trainer may pass file options unconditionally; only a non-default value is a mistake for a registered set
        changed = sorted(k for k, v in file_options.items() if v != _FILE_OPTION_DEFAULTS[k])
        if changed:
            raise TypeError(f"{changed} apply to user files, not to the registered dataset '{name}' "
                            f"(it has a published split)")
        spec = DATASETS[name]
        return spec.load(default_split(spec) if split is None else split, data_dir, download=download,
                         num_workers=num_workers)
    if os.path.isfile(name):
        return load_user_dataset(name, "train" if split is None else split, seed=seed, num_workers=num_workers,
                                 **file_options)
    try:
        file_format(name)
        looks_like = "a data file (by its ending), but there is no such file"
    except ValueError:
        looks_like = "neither a registered name nor an existing file"
    raise UnknownDatasetError(f"unknown dataset '{name}': {looks_like}. Known datasets: {', '.join(DATASETS)}; "
                              f"or pass the path of your own file ending in {accepted_suffixes()} "
                              f"(datasets/user_files.md)")
