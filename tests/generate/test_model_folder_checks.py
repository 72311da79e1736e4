"""Model folders: config.json is checked against the weights (issue 22's reproducers, each as a test).

Before: ``"vocab": "moses"`` on the QM9 model wrote sulphur for oxygen and exited 0; ``"max_nodes": 0`` wrote nothing
and exited 0; a bad JSON error omitted the file name; ``"heads": 0`` was a ZeroDivisionError; a pickle saved as
``model.safetensors`` surfaced as a raw SafetensorError. Now each is a CorruptFileError naming the file and key.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from graphgen import hub
from graphgen.cli import main
from graphgen.errors import CorruptFileError
from graphgen.generate import load_generator
from graphgen.nn.pretrained import RECORD_CONFIG, RECORD_DATA_SHA256, _comparable, config_differences


def copy_model(name: str, dest: Path) -> Path:
    """A copy of bundled model ``name`` in ``dest`` (the bundled files are never edited)."""
    return Path(shutil.copytree(hub.resolve(name), dest / name))


def edit_config(folder: Path, **changes) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(changes)
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))


def without_record(folder: Path) -> None:
    """Drop the record from the weights' header, as in a folder saved before the record existed."""
    path = folder / "model.safetensors"
    blob = path.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    header["__metadata__"] = {"generator": header["__metadata__"]["generator"]}
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + blob[8 + n:])


@pytest.fixture(params=["record", "no record"])
def qm9_copy(request, tmp_path) -> Path:
    """The bundled PARD QM9 model, with its record and as a folder saved before records existed."""
    folder = copy_model("qm9", tmp_path)
    if request.param == "no record":
        without_record(folder)
    return folder


# -- the reproducers -----------------------------------------------------------------------------------------------
def test_vocab_of_another_size_is_named(qm9_copy):
    edit_config(qm9_copy, vocab="moses")
    with pytest.raises(CorruptFileError, match=rf"{qm9_copy / 'config.json'}: vocab 'moses' has 8 atom types "
                                               r"\(C, N, S, O, F, Cl, Br, H\) but num_node_types is 4"):
        load_generator(qm9_copy)


def test_vocab_of_the_same_size_is_caught_by_the_record(tmp_path):
    folder = copy_model("qm9", tmp_path)
    edit_config(folder, vocab={"name": "qm9", "atoms": ["C", "N", "S", "F"], "charges": [-1, 0, 1]})
    with pytest.raises(CorruptFileError, match=r"config.json differs from the config model.safetensors was saved "
                                               r"with: vocab.atoms: saved \['C', 'N', 'O', 'F'\], found \['C', 'N', "
                                               r"'S', 'F'\]"):
        load_generator(folder)
    # the same vocabulary written out as a dict is the same vocabulary
    edit_config(folder, vocab={"name": "anything", "atoms": ["C", "N", "O", "F"], "charges": [-1, 0, 1]})
    assert load_generator(folder).config.vocab["atoms"] == ["C", "N", "O", "F"]


def test_zero_max_nodes_is_named_and_sample_exits_with_one_line(qm9_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHGEN_DATA", str(tmp_path / "no_data"))
    edit_config(qm9_copy, max_nodes=0)
    with pytest.raises(CorruptFileError, match=r"config.json: max_nodes is 0; it must be an integer >= 1"):
        load_generator(qm9_copy)
    out = tmp_path / "out.smi"
    with pytest.raises(SystemExit, match=rf"graphgen sample: {qm9_copy / 'config.json'}: max_nodes is 0") as err:
        main(["sample", str(qm9_copy), "-n", "4", "-o", str(out), "--no-progress", "--no-metrics"])
    assert "\n" not in str(err.value) and not out.exists()


def test_cli_no_longer_writes_sulphur_for_oxygen(qm9_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHGEN_DATA", str(tmp_path / "no_data"))
    edit_config(qm9_copy, vocab="moses")
    out = tmp_path / "out.smi"
    with pytest.raises(SystemExit, match=r"config.json: vocab 'moses'"):
        main(["sample", str(qm9_copy), "-n", "4", "-o", str(out), "--no-progress", "--no-metrics"])
    assert not out.exists()


def test_bad_json_names_file_and_line(qm9_copy):
    (qm9_copy / "config.json").write_text('{\n  "generator": "pard",\n  "hidden": 64,,\n}\n')
    with pytest.raises(CorruptFileError, match=rf"{qm9_copy / 'config.json'}: not valid JSON at line 3, column 16"):
        load_generator(qm9_copy)
    (qm9_copy / "config.json").write_text("[1, 2]")
    with pytest.raises(CorruptFileError, match=r"config.json: expected a JSON object"):
        load_generator(qm9_copy)
    (qm9_copy / "config.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(CorruptFileError, match=r"config.json: not UTF-8"):
        load_generator(qm9_copy)


@pytest.mark.parametrize("heads, expected", [(0, "heads is 0; it must be an integer >= 1"),
                                             (3, "heads is 3; it must be a divisor of hidden=64")])
def test_heads_are_checked_before_anything_divides_by_them(qm9_copy, heads, expected):
    edit_config(qm9_copy, heads=heads)
    with pytest.raises(CorruptFileError, match=rf"config.json: {expected}"):
        load_generator(qm9_copy)


def test_pickle_saved_as_safetensors_is_named(qm9_copy):
    torch.save({"network.start": torch.zeros(64)}, qm9_copy / "model.safetensors")
    with pytest.raises(CorruptFileError, match=rf"{qm9_copy / 'model.safetensors'}: not a safetensors file .*"
                                               r"a pickled torch.save file is never loaded"):
        load_generator(qm9_copy)


SDE_RULES = [
    ({"remove_isolated": None}, r"remove_isolated is None; it must be bool"),
    ({"sde_x": None}, r"sde_x is None; it must be an object of SDEConfig keys"),
    ({"training": "zinc250k"}, r"training is 'zinc250k'; it must be dict"),
    ({"sde_x": {"kind": "ve", "beta_min": 5.0, "beta_max": 1.0, "num_scales": 1000}},
     r"sde_x.beta_min is 5.0; it must be below sde_x.beta_max=1.0"),
    ({"sampler": {"eps": 158482.0}}, r"sampler.eps is 158482.0; it must be a finite number > 0.0 and < 1.0"),
    ({"train_eps": float("nan")}, r"train_eps is nan; it must be a finite number"),
    ({"sampler": {"corrector": "euler"}}, r"sampler.corrector is 'euler'; it must be one of"),
    ({"net_adj": {"heads": 3}}, r"net_adj.heads is 3; it must be a divisor of net_adj.attn=16"),
    ({"vocab": "moses"}, r"vocab 'moses' has 8 atom types .* but num_node_features is 4"),
    ({"kind": "graph"}, r"kind is 'graph' with vocab 'qm9'; a 'molecule' model has a vocab, a 'graph' model has none"),
]


@pytest.mark.parametrize("change, message", SDE_RULES, ids=[next(iter(c)) for c, _ in SDE_RULES])
def test_sde_value_rules_name_the_key_without_a_record(tmp_path, change, message):
    """Values no saved GDSS model can have, each named before a model is built (the folder has no record, so the
    rules are all that stands between the value and a silently different model)."""
    folder = copy_model("qm9-gdss", tmp_path)
    without_record(folder)
    cfg = json.loads((folder / "config.json").read_text())
    for key, value in change.items():
        cfg[key] = {**cfg[key], **value} if isinstance(cfg[key], dict) and isinstance(value, dict) else value
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CorruptFileError, match=rf"{folder / 'config.json'}: {message}"):
        load_generator(folder)


# -- the weights against the config ----------------------------------------------------------------------------------
def test_same_shape_change_needs_the_record(tmp_path):
    """heads 4 -> 2 keeps every tensor's shape: only the record tells the weights were trained with 4."""
    folder = copy_model("qm9", tmp_path)
    edit_config(folder, heads=2)
    with pytest.raises(CorruptFileError, match=r"heads: saved 4, found 2"):
        load_generator(folder)


def test_shapes_are_checked_without_a_record(tmp_path):
    folder = copy_model("qm9", tmp_path)
    without_record(folder)
    edit_config(folder, edge_hidden=16)
    with pytest.raises(CorruptFileError, match=r"model.safetensors does not fit the model .*config.json describes "
                                               r"\(other shape: .*\(file \[32\], config \[16\]\)"):
        load_generator(folder)
    edit_config(folder, edge_hidden=32, degree_given_size=False)  # one tensor fewer in the model
    with pytest.raises(CorruptFileError, match=r"unexpected: network.degree_size_embed.weight"):
        load_generator(folder)


def test_missing_tensor_is_named(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_model("qm9", tmp_path)
    tensors = load_file(str(folder / "model.safetensors"))
    del tensors["network.start"]
    save_file(tensors, str(folder / "model.safetensors"), metadata={"generator": "pard"})
    with pytest.raises(CorruptFileError, match=r"\(missing: network.start\)"):
        load_generator(folder)


def test_huge_sizes_fail_fast_under_the_build_budget(tmp_path):
    folder = copy_model("qm9", tmp_path)
    without_record(folder)
    edit_config(folder, hidden=1 << 13, heads=1)  # 0.8 GB for one layer's qkv alone, 0.9 MB of weights on disk
    with pytest.raises(CorruptFileError, match=r"config.json describes a model far larger than model.safetensors"):
        load_generator(folder)
    edit_config(folder, hidden=1 << 20)  # 4 TB: the allocator refuses at once
    with pytest.raises(CorruptFileError, match=r"config.json: no model can be built from it .*can't allocate"):
        load_generator(folder)


def test_changed_tensor_bytes_are_caught_by_the_recorded_hash(tmp_path):
    folder = copy_model("qm9-gdss", tmp_path)
    blob = bytearray((folder / "model.safetensors").read_bytes())
    blob[-9] ^= 0x01  # one bit of the last tensor
    (folder / "model.safetensors").write_bytes(bytes(blob))
    with pytest.raises(CorruptFileError, match=r"model.safetensors: the tensor bytes do not match the sha256"):
        load_generator(folder)


def test_sampler_settings_are_per_call_options_not_config_edits(tmp_path):
    folder = copy_model("qm9-gdss", tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["sampler"]["snr"] = 0.1
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CorruptFileError, match=r"sampler.snr: saved 0.2, found 0.1; .*per-call options"):
        load_generator(folder)


def test_unknown_generator_key_is_named(tmp_path):
    folder = copy_model("qm9-gdss", tmp_path)
    edit_config(folder, generator=7)
    with pytest.raises(CorruptFileError, match=r"config.json: 'generator' is 7; expected one of"):
        load_generator(folder)


def test_values_that_resolve_equal_load(tmp_path):
    """Edits that leave the resolved config as saved load the same model: an int written as a float, a key left
    out whose default is the saved value. A key left out whose saved value is not the default is a difference."""
    folder = copy_model("qm9-gdss", tmp_path)
    reference = load_generator(folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["max_nodes"] = 9.0
    del cfg["remove_isolated"]  # saved True, the default
    del cfg["sampler"]["predictor"]  # saved "reverse", the default
    del cfg["sampler"]["snr"]  # saved 0.2, the default
    del cfg["sde_x"]  # saved kind "ve"; the default is "vp"
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CorruptFileError, match=r"sde_x.kind: saved 've', found 'vp'"):
        load_generator(folder)
    cfg["sde_x"] = json.loads((hub.resolve("qm9-gdss") / "config.json").read_text())["sde_x"]
    (folder / "config.json").write_text(json.dumps(cfg))
    model = load_generator(folder)
    assert model.config == reference.config
    for (k1, v1), (k2, v2) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2)


def test_fields_added_after_the_save_are_not_differences(tmp_path):
    """A record written before a config field existed says nothing about it (the field resolves to its default)."""
    saved = {"generator": "sde", "max_nodes": 9, "sampler": {"snr": 0.2}}
    found = {"generator": "sde", "max_nodes": 9, "sampler": {"snr": 0.2, "new_option": 1}, "new_field": True}
    assert config_differences(saved, found) == []
    assert config_differences(saved, {**found, "max_nodes": 5}) == [("max_nodes", 9, 5)]


# -- records and round trips ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(hub.MODELS))
def test_bundled_models_carry_a_record_and_load(name):
    path = hub.resolve(name) / "model.safetensors"
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert set(meta) >= {"generator", RECORD_CONFIG, RECORD_DATA_SHA256}
    model = load_generator(name)
    # the loader's rule: equal on every key both hold (fields added to a config class since the save are skipped)
    saved, found = json.loads(meta[RECORD_CONFIG]), json.loads(json.dumps(model.config_dict()))
    assert config_differences(_comparable(saved), _comparable(found)) == []
    assert saved["generator"] == found["generator"] and set(saved) <= set(found)


def test_resave_adds_a_record_to_an_old_folder(tmp_path):
    folder = copy_model("qm9", tmp_path)
    without_record(folder)
    load_generator(folder).save_pretrained(folder)
    edit_config(folder, vocab={"name": "qm9", "atoms": ["C", "N", "S", "F"], "charges": [-1, 0, 1]})
    with pytest.raises(CorruptFileError, match=r"vocab.atoms: saved"):
        load_generator(folder)


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path):
    model = load_generator("qm9-gdss")
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    assert load_generator(tmp_path / "m").config == model.config
