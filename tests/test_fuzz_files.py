"""Fuzz: damaged processed caches and model folders load correctly or raise a GraphgenError naming the file.

Entry points and their properties (each example damages an intact copy in one to three random ways):

* ``MoleculeDataset(folder)``, the open of a processed cache: returns exactly the intact graphs, rows and SMILES, or
  raises :class:`CorruptCacheError` naming a file of that folder and the rebuild command. Damage: truncate, append,
  flip or overwrite bytes, delete, replace with garbage, add a stray file, edit a JSON value; or, as a builder bug
  would, change a count (SMILES lines, an array's length, offsets) and re-hash the folder so only the counts tell.
* ``spec.load(split)``, the same damage through the loader: always returns the intact graphs (rebuilt from the raw
  file when the cache is damaged, with a warning naming the file).
* ``load_generator(folder)`` on a copy of a bundled model (``qm9`` PARD, ``qm9-gdss`` score SDE): returns the model
  whose resolved config and weights equal the original's, or raises a GraphgenError naming ``config.json`` or
  ``model.safetensors`` of that folder. Damage: a config value replaced (ints, floats incl. NaN and inf, strings,
  null, lists, objects), a key deleted or added, the text cut or garbled; the weights truncated, appended to, bytes
  flipped in the header or in the tensor data, the header length overwritten, replaced by garbage, by a pickle or by
  another model's weights; either file deleted.
* ``load_generator`` on the same folders without the record (as saved before it existed): loads the original
  weights or raises a GraphgenError naming the file. Flipped tensor bytes are not drawn here (without the recorded
  hash they are undetectable by design), and a config that loads but resolves differently from the original is
  counted, not failed: as "provenance" when only ``dataset`` / ``training`` differ (they do not reach the model),
  else as "undetectable without the record" (a same-shape change such as ``heads`` 4 -> 2 or another noise level).

CI runs ``CI_EXAMPLES`` (derandomized, so the same cases every run); ``-m slow`` runs ten times as many.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphgen import hub
from graphgen.data.datasets.base import CorruptCacheError, MoleculeDataset, write_manifest
from graphgen.errors import GraphgenError
from graphgen.generate import load_generator
from graphgen.nn.pretrained import _comparable, config_differences
from tests.data.test_cache_integrity import snapshot, tiny_zinc_spec
from tests.generate.test_model_folder_checks import without_record

CI_EXAMPLES = {"cache_open": 2000, "cache_load": 400, "model_record": 1600, "model_no_record": 400}
SLOW_FACTOR = 10
OUTCOMES: dict[str, Counter] = {name: Counter() for name in CI_EXAMPLES}


def fuzz_settings(name: str, factor: int = 1) -> settings:
    return settings(max_examples=CI_EXAMPLES[name] * factor, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


# ----------------------------------------------------------------------------------------------------------------------
# damage
# ----------------------------------------------------------------------------------------------------------------------
# JSON values a damaged config or cache file may hold (drawn from a list: cheaper for hypothesis than composite
# strategies, and it keeps the values that matter: zero, negatives, huge, non-finite, wrong types, other names)
FIXED_JSON_VALUES = [None, True, False, 0, -1, 1, 2, 3, 4, 7, 8, 9.0, 64.0, 0.5, 1.5, -0.0, float("nan"), float("inf"),
                     float("-inf"), 1e300, "", "x", "moses", "qm9", "zinc250k", "vp", "ve", "none", "pc", "marginal",
                     [], [1], [0, -1], {}, {"a": 1}, {"atoms": ["C"]}]
JSON_VALUES = st.one_of(st.sampled_from(FIXED_JSON_VALUES), st.integers(-(2 ** 40), 2 ** 40))
BYTE_OPS = ("truncate", "append", "flip", "overwrite", "delete", "garbage", "json_set", "json_delete", "json_add")


def byte_op(names: list[str]) -> st.SearchStrategy:
    """One damage to one file: (file name, op, position, payload bytes, JSON value)."""
    payload = st.integers(1, 2 ** 64 - 1).map(lambda v: v.to_bytes(8, "little"))
    return st.tuples(st.sampled_from(names), st.sampled_from(BYTE_OPS), st.integers(0, 2 ** 20), payload, JSON_VALUES)


def _json_leaves(doc, prefix=()) -> list[tuple]:
    """Paths (tuples of keys / indices) of every value in a JSON document, containers included."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _json_leaves(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _json_leaves(v, prefix + (i,))
    return out


def _edit_json(path: Path, op: str, pos: int, value) -> None:
    try:
        doc = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        return  # already garbled by an earlier op
    leaves = _json_leaves(doc)
    if not leaves:
        return
    where = leaves[pos % len(leaves)]
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    last = where[-1]
    if op == "json_set":
        parent[last] = value
    elif op == "json_delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[f"extra_{pos % 7}"] = value
    else:
        parent.append(value)
    path.write_text(json.dumps(doc))


def apply_byte_op(folder: Path, op: tuple) -> None:
    name, kind, pos, payload, value = op
    path = folder / name
    if not path.is_file():
        if kind in ("append", "garbage"):  # writes a file where there was none
            path.write_bytes(payload)
        return
    data = path.read_bytes()
    if kind == "truncate":
        path.write_bytes(data[: pos % max(len(data), 1)])
    elif kind == "append":
        path.write_bytes(data + payload)
    elif kind == "flip" and data:
        b = bytearray(data)
        b[pos % len(b)] ^= payload[0] or 1
        path.write_bytes(bytes(b))
    elif kind == "overwrite" and data:
        start = pos % len(data)
        path.write_bytes(data[:start] + payload[: len(data) - start] + data[start + len(payload):])
    elif kind == "delete":
        path.unlink()
    elif kind == "garbage":
        path.write_bytes(payload * (1 + pos % 5))
    elif kind.startswith("json") and name.endswith(".json"):
        _edit_json(path, kind, pos, value)


# ----------------------------------------------------------------------------------------------------------------------
# processed cache
# ----------------------------------------------------------------------------------------------------------------------
COUNT_OPS = ("drop_smiles_lines", "add_smiles_lines", "shorten_array", "lengthen_array", "ptr_end", "ptr_down",
             "meta_count")


def apply_count_op(folder: Path, op: tuple) -> None:
    """Change a count and re-hash the folder (a builder bug): sizes and hashes agree, the counts do not."""
    kind, k, array = op
    manifest = json.loads((folder / "manifest.json").read_text())
    if kind in ("drop_smiles_lines", "add_smiles_lines"):
        lines = (folder / "smiles.txt").read_text().splitlines()
        lines = lines[:-k] if kind == "drop_smiles_lines" else lines + ["C"] * k
        (folder / "smiles.txt").write_text("".join(f"{s}\n" for s in lines))
    elif kind in ("shorten_array", "lengthen_array"):
        a = np.load(folder / array)
        a = a[:-k] if kind == "shorten_array" else np.concatenate([a, a[:k]])
        np.save(folder / array, a)
    elif kind in ("ptr_end", "ptr_down"):
        name = "node_ptr.npy" if k % 2 else "edge_ptr.npy"
        ptr = np.load(folder / name)
        if kind == "ptr_end":
            ptr[-1] += k
        else:
            ptr[1 + k % (len(ptr) - 2)] = ptr[-1] + 1
        np.save(folder / name, ptr)
    else:
        meta = json.loads((folder / "meta.json").read_text())
        meta["num_graphs"] += k
        (folder / "meta.json").write_text(json.dumps(meta))
    write_manifest(folder, manifest["counts"])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A folder for the thousands of small rewrites: in /dev/shm (tmpfs) when there is one, since ext4 flushes a file
    that is truncated and rewritten in place (auto_da_alloc), about 50 times slower; else a pytest temp folder."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="graphgen-fuzz-", dir=shm))
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def cache(scratch):
    """(spec, data root, cache folder, intact file bytes, intact snapshot with rows) of the five-molecule dataset."""
    root = scratch / "cache_case"
    mp = pytest.MonkeyPatch()
    mp.setenv("GRAPHGEN_CACHE", str(root / "cache"))
    spec = tiny_zinc_spec(root / "data")
    ds = spec.load("train", root / "data")
    files = {p.name: p.read_bytes() for p in ds.cache_dir.iterdir()}
    yield spec, root / "data", ds.cache_dir, files, snapshot(ds) + [ds.rows.tolist()]
    mp.undo()


def restore(folder: Path, files: dict[str, bytes]) -> None:
    """Put the intact files back (rewritten in place: cheaper than deleting the folder) and remove any other file."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.name not in files:
            path.unlink()
    for name, data in files.items():
        (folder / name).write_bytes(data)


def damage_strategy(names: list[str], arrays: list[str]) -> st.SearchStrategy:
    count = st.tuples(st.sampled_from(COUNT_OPS), st.integers(1, 3), st.sampled_from(arrays))
    return st.one_of(st.tuples(st.just("bytes"), st.lists(byte_op(names), min_size=1, max_size=3)),
                     st.tuples(st.just("count"), count))


def damage(folder: Path, drawn: tuple) -> None:
    mode, ops = drawn
    if mode == "count":
        apply_count_op(folder, ops)
        return
    for op in ops:
        apply_byte_op(folder, op)


CACHE_NAMES = ["edge.edge_attr.npy", "edge.edge_index.npy", "edge_ptr.npy", "graph.y.npy", "manifest.json",
               "meta.json", "node.x.npy", "node_ptr.npy", "rows.npy", "smiles.txt", "stray.npy"]
CACHE_ARRAYS = ["edge.edge_attr.npy", "edge.edge_index.npy", "graph.y.npy", "node.x.npy", "rows.npy"]


def _check_open(folder: Path, intact: list, outcomes: Counter) -> None:
    try:
        ds = MoleculeDataset(folder)
        got = snapshot(ds) + [ds.rows.tolist()]
    except CorruptCacheError as err:
        assert err.path.parent == folder and str(err).startswith(str(err.path)), str(err)
        assert "graphgen data prepare tiny_zinc --rebuild" in str(err), str(err)
        outcomes["named error"] += 1
        return
    assert got == intact, "a damaged cache opened with other data"
    outcomes["loaded intact"] += 1


def _cache_open_property(cache, drawn) -> None:
    spec, root, folder, files, intact = cache
    restore(folder, files)
    damage(folder, drawn)
    _check_open(folder, intact, OUTCOMES["cache_open"])


@fuzz_settings("cache_open")
@given(drawn=damage_strategy(CACHE_NAMES, CACHE_ARRAYS))
def test_fuzz_cache_open(cache, drawn):
    _cache_open_property(cache, drawn)


@pytest.mark.slow
@fuzz_settings("cache_open", SLOW_FACTOR)
@given(drawn=damage_strategy(CACHE_NAMES, CACHE_ARRAYS))
def test_fuzz_cache_open_slow(cache, drawn):
    _cache_open_property(cache, drawn)


def _cache_load_property(cache, drawn) -> None:
    spec, root, folder, files, intact = cache
    restore(folder, files)
    damage(folder, drawn)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = spec.load("train", root)
    assert snapshot(ds) + [ds.rows.tolist()] == intact
    for w in caught:
        assert str(folder) in str(w.message) and "rebuilding the processed cache" in str(w.message), str(w.message)
    OUTCOMES["cache_load"]["rebuilt" if caught else "loaded intact"] += 1


@fuzz_settings("cache_load")
@given(drawn=damage_strategy(CACHE_NAMES, CACHE_ARRAYS))
def test_fuzz_cache_load_rebuilds(cache, drawn):
    _cache_load_property(cache, drawn)


@pytest.mark.slow
@fuzz_settings("cache_load", SLOW_FACTOR)
@given(drawn=damage_strategy(CACHE_NAMES, CACHE_ARRAYS))
def test_fuzz_cache_load_rebuilds_slow(cache, drawn):
    _cache_load_property(cache, drawn)


# ----------------------------------------------------------------------------------------------------------------------
# model folders
# ----------------------------------------------------------------------------------------------------------------------
MODEL_NAMES = ("qm9-gdss", "qm9")
WEIGHT_OPS = ("truncate", "append", "flip_header", "flip_data", "length", "garbage", "pickle", "other_model",
              "delete")


@pytest.fixture(scope="module")
def models(scratch):
    """Per bundled model and record variant: (working folder, intact files, config and state of the original)."""
    root = scratch / "models"
    out = {}
    for name in MODEL_NAMES:
        for record in (True, False):
            folder = Path(shutil.copytree(hub.resolve(name), root / f"{name}-{record}"))
            if not record:
                without_record(folder)
            model = load_generator(folder)
            files = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "README.md"}
            out[name, record] = (folder, files, _comparable(model.config_dict()),
                                 {k: v.clone() for k, v in model.state_dict().items()})
    return out


PAYLOAD = st.integers(1, 2 ** 64 - 1).map(lambda v: v.to_bytes(8, "little"))


def config_op() -> st.SearchStrategy:
    return st.tuples(st.just("config"), st.sampled_from(("json_set", "json_set", "json_set", "json_delete",
                                                         "json_add", "truncate", "overwrite", "garbage", "delete")),
                     st.integers(0, 2 ** 20), PAYLOAD, JSON_VALUES)


def weights_op(ops: tuple[str, ...]) -> st.SearchStrategy:
    return st.tuples(st.just("weights"), st.sampled_from(ops), st.integers(0, 2 ** 24), PAYLOAD, st.none())


def apply_model_op(folder: Path, op: tuple, other: bytes) -> None:
    target, kind, pos, payload, value = op
    if target == "config":
        apply_byte_op(folder, ("config.json", kind, pos, payload, value))
        return
    path = folder / "model.safetensors"
    if not path.is_file():
        return
    blob = path.read_bytes()
    header_end = 8 + int.from_bytes(blob[:8], "little") if len(blob) >= 8 else len(blob)
    header_end = min(header_end, len(blob))
    if kind == "flip_header" and header_end > 0:
        b = bytearray(blob)
        b[pos % header_end] ^= payload[0] or 1
        path.write_bytes(bytes(b))
    elif kind == "flip_data" and len(blob) > header_end:
        b = bytearray(blob)
        b[header_end + pos % (len(blob) - header_end)] ^= payload[0] or 1
        path.write_bytes(bytes(b))
    elif kind == "length":
        path.write_bytes((pos * 977).to_bytes(8, "little") + blob[8:])
    elif kind == "pickle":
        torch.save({"weight": torch.zeros(3)}, path)
    elif kind == "other_model":
        path.write_bytes(other)
    else:
        apply_byte_op(folder, ("model.safetensors", kind, pos, payload, None))


def _check_model(folder: Path, config, state, record: bool, outcomes: Counter) -> None:
    try:
        model = load_generator(folder)
    except GraphgenError as err:
        text = str(err)
        assert str(folder / "config.json") in text or str(folder / "model.safetensors") in text, text
        outcomes["named error"] += 1
        return
    loaded = model.state_dict()
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state), \
        "a damaged folder loaded other weights"
    differences = config_differences(config, _comparable(model.config_dict()))
    if not differences:
        outcomes["loaded the same model"] += 1
        return
    assert not record, f"a config that differs from the record loaded: {differences}"
    if all(key == "dataset" or key.startswith("training") for key, _, _ in differences):
        outcomes["loaded; only provenance fields (dataset, training) differ"] += 1
    else:
        outcomes["loaded another config (undetectable without the record)"] += 1


def _model_property(models, name: str, record: bool, ops: list) -> None:
    folder, files, config, state = models[name, record]
    for fname, data in files.items():
        (folder / fname).write_bytes(data)
    other = models[MODEL_NAMES[1 - MODEL_NAMES.index(name)], record][1]["model.safetensors"]
    for op in ops:
        apply_model_op(folder, op, other)
    key = "model_record" if record else "model_no_record"
    _check_model(folder, config, state, record, OUTCOMES[key])


RECORD_OPS = st.lists(st.one_of(config_op(), config_op(), weights_op(WEIGHT_OPS)), min_size=1, max_size=2)
# without the record a flipped tensor byte is undetectable by design: not drawn
NO_RECORD_OPS = st.lists(st.one_of(config_op(), config_op(),
                                   weights_op(tuple(op for op in WEIGHT_OPS if op != "flip_data"))),
                         min_size=1, max_size=2)


@fuzz_settings("model_record")
@given(name=st.sampled_from(MODEL_NAMES), ops=RECORD_OPS)
def test_fuzz_model_folder(models, name, ops):
    _model_property(models, name, True, ops)


@pytest.mark.slow
@fuzz_settings("model_record", SLOW_FACTOR)
@given(name=st.sampled_from(MODEL_NAMES), ops=RECORD_OPS)
def test_fuzz_model_folder_slow(models, name, ops):
    _model_property(models, name, True, ops)


@fuzz_settings("model_no_record")
@given(name=st.sampled_from(MODEL_NAMES), ops=NO_RECORD_OPS)
def test_fuzz_model_folder_without_record(models, name, ops):
    _model_property(models, name, False, ops)


@pytest.mark.slow
@fuzz_settings("model_no_record", SLOW_FACTOR)
@given(name=st.sampled_from(MODEL_NAMES), ops=NO_RECORD_OPS)
def test_fuzz_model_folder_without_record_slow(models, name, ops):
    _model_property(models, name, False, ops)


# the outcomes each CI fuzz test must reach at least once (else its damage no longer exercises that branch)
EXPECTED_OUTCOMES = {"cache_open": ("named error", "loaded intact"), "cache_load": ("rebuilt", "loaded intact"),
                     "model_record": ("named error", "loaded the same model"),
                     "model_no_record": ("named error", "loaded the same model")}


def test_fuzz_outcomes_cover_both_branches():
    """Runs after the fuzz tests of this file (pytest keeps file order): prints the outcome counts (-s shows them)
    and checks that each fuzz test both loaded and rejected cases."""
    ran = {name: counts for name, counts in OUTCOMES.items() if counts}
    if not ran:
        pytest.skip("no fuzz test of this file ran in this session")
    for name, counts in ran.items():
        print(f"fuzz {name}: {sum(counts.values())} cases: {dict(counts)}")
        missing = [o for o in EXPECTED_OUTCOMES[name] if not counts[o]]
        assert not missing, f"{name}: no case ended as {missing}"
