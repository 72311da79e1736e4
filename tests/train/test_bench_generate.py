"""``graphgen bench generate`` for MOSES / ZINC250k (issue 21): chunked sampling that resumes to the same samples,
refused mismatches, the phased suites equal to ``evaluate_molecules``, and the published anchor rows.

Reference sets are small SMILES lists passed in; building the MOSES cache (minutes) is left to the slow test."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphgen.data.graph_file import load_graphs
from graphgen.data.molecules import VOCABS, smiles_to_data
from graphgen.evaluate.molecules import canonicalize_smiles, evaluate_molecules
from graphgen.train import bench_generate as bg
from tests.fuzz import expect_error, run_case

# MOSES-like molecules (C N S O F Cl Br, neutral); the last two are valid but in the "train" list below
POOL = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccccc1", "CCN(CC)CC", "c1ccc2ccccc2c1", "O=C(O)c1ccccc1", "CC(C)Cc1ccc(cc1)C",
        "Clc1ccccc1Br", "CSc1ccccc1", "C1CCNCC1", "CC1=CC(=O)CCC1", "FC(F)(F)c1ccccc1", "OCC1OC(O)C(O)C1O",
        "c1ccc(cc1)-c1ccccn1", "CCOC(=O)c1ccccc1N", "N#Cc1ccccc1"]
TRAIN = ["CCO", "c1ccccc1", "N#Cc1ccccc1", "CCCC"]
TEST = ["CCN", "c1ccccc1N", "CC(=O)Nc1ccc(O)cc1", "C1CCCCC1", "c1ccc2ccccc2c1C", "CCOc1ccccc1"]
TEST_SF = ["c1ccc2ncccc2c1", "C1CCC2CCCCC2C1", "c1ccc(cc1)Cc1ccccc1", "O=C1CCCN1"]
REFS = bg.References(train=TRAIN, test=TEST, test_scaffolds=TEST_SF)


class FakeGenerator:
    """A generator that draws molecules from ``POOL`` with its ``torch.Generator`` (plus one atom-less failure
    every so often), reporting one "sampled" event per batch as the real ones do; ``fail_on_call`` raises on that
    call to ``sample`` (a killed run)."""

    def __init__(self, vocab: str = "moses", fail_on_call: int | None = None) -> None:
        self.config = type("Config", (), {"vocab": vocab, "max_hops": 1})()
        self.calls = 0
        self.fail_on_call = fail_on_call
        self.graphs = [smiles_to_data(s, VOCABS[vocab]) for s in POOL]

    def sample(self, n, *, generator=None, batch_size=None, progress=None, callback=None):
        self.calls += 1
        if self.fail_on_call == self.calls:
            raise RuntimeError("killed")
        picks = torch.randint(len(self.graphs), (n,), generator=generator).tolist()
        batch_size = batch_size or n
        for start in range(0, n, batch_size):
            if callback is not None:
                callback({"kind": "evaluation", "num_graphs": min(batch_size, n - start)})
                callback({"kind": "sampled", "num_graphs": min(batch_size, n - start)})
        return [self.graphs[i].clone() for i in picks]


def signature(graphs) -> list[tuple]:
    """What identifies a sampled graph: its atom types and edges."""
    return [(g.x.tolist(), g.edge_index.tolist(), g.edge_attr.tolist()) for g in graphs]


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# -- chunk seeds and the sampling record ----------------------------------------------------------------------------
def test_chunk_seeds_depend_on_seed_and_index_only():
    assert bg.chunk_seeds(7, 3) == bg.chunk_seeds(7, 5)[:3]
    assert len(set(bg.chunk_seeds(7, 50))) == 50
    assert bg.chunk_seeds(7, 3) != bg.chunk_seeds(8, 3)
    assert all(0 <= s < 2 ** 63 for s in bg.chunk_seeds(123, 20))  # fits torch.Generator.manual_seed


def test_plan_counts_a_short_last_chunk():
    plan = bg.SamplingPlan.new("m", None, 250, 0, 100)
    assert plan.num_chunks == 3 and [plan.chunk_count(i) for i in range(3)] == [100, 100, 50]
    with pytest.raises(bg.InputError, match="--chunk-size"):
        bg.SamplingPlan.new("m", None, 10, 0, 0)


def test_resume_after_interruption_gives_the_samples_of_an_uninterrupted_run(tmp_path):
    model = FakeGenerator()
    whole = tmp_path / "whole.samples.safetensors"
    expected = bg.sample_in_chunks(model, bg.SamplingPlan.new("m", "abc", 250, 3, 100), whole, batch_size=40,
                                   progress=False)
    cut = tmp_path / "cut.samples.safetensors"
    bg.sample_in_chunks(model, bg.SamplingPlan.new("m", "abc", 250, 3, 100), cut, batch_size=40, progress=False,
                        stop_after=1)
    on_disk, plan, _ = bg.read_plan(cut)
    assert len(on_disk) == 100 and plan.chunks_done == 1 and not plan.complete
    graphs, plan = bg.open_or_plan(cut, bg.SamplingPlan.new("m", "abc", 250, 3, 100), resume=True, reuse=False)
    resumed = bg.sample_in_chunks(model, plan, cut, graphs=graphs, batch_size=40, progress=False)
    assert signature(resumed) == signature(expected)
    assert signature(load_graphs(cut)[0]) == signature(expected)
    final = bg.read_plan(cut)[1]
    assert final.complete and final.evaluations_per_graph == pytest.approx(1.0)  # one event per graph above
    # the chunks are the samples: not one draw of 250 with the run seed
    one_draw = model.sample(250, generator=torch.Generator().manual_seed(3))
    assert signature(one_draw) != signature(expected)


def test_resume_with_a_real_pard_model(tmp_path):
    from graphgen.generate.pard.model import PARDConfig, PARDGenerator

    torch.manual_seed(0)  # test-only: fixes the initial weights
    model = PARDGenerator(PARDConfig(hidden=16, edge_hidden=8, num_layers=1, heads=2, num_steps=3, max_block_size=4,
                                     max_degree=4, max_nodes=6))
    model.set_marginals([smiles_to_data(s, VOCABS["qm9"]) for s in ["CCO", "CC(C)=O", "OC1CC1", "CC#N"]])
    expected = bg.sample_in_chunks(model, bg.SamplingPlan.new("p", None, 7, 1, 3), tmp_path / "a.st",
                                   progress=False)
    path = tmp_path / "b.st"
    bg.sample_in_chunks(model, bg.SamplingPlan.new("p", None, 7, 1, 3), path, progress=False, stop_after=2)
    graphs, plan = bg.open_or_plan(path, bg.SamplingPlan.new("p", None, 7, 1, 3), resume=True, reuse=False)
    assert plan.chunks_done == 2 and len(graphs) == 6
    resumed = bg.sample_in_chunks(model, plan, path, graphs=graphs, progress=False)
    assert signature(resumed) == signature(expected) and len(resumed) == 7
    assert all(torch.equal(a.block, b.block) for a, b in zip(resumed, expected))


@pytest.mark.parametrize("field,changed", [("seed", dict(seed=4)), ("num_samples", dict(num_samples=300)),
                                           ("chunk_size", dict(chunk_size=50)), ("model_sha256", dict(sha="abd")),
                                           ("model", dict(model="other"))])
def test_a_mismatched_resume_is_refused_naming_the_field(tmp_path, field, changed):
    path = tmp_path / "s.st"
    bg.sample_in_chunks(FakeGenerator(), bg.SamplingPlan.new("m", "abc", 250, 3, 100), path, progress=False,
                        stop_after=1)
    args = dict(model="m", sha="abc", num_samples=250, seed=3, chunk_size=100) | changed
    wanted = bg.SamplingPlan.new(args["model"], args["sha"], args["num_samples"], args["seed"], args["chunk_size"])
    with pytest.raises(bg.SamplesMismatchError, match=f"holds samples of another run.*{field}: file"):
        bg.open_or_plan(path, wanted, resume=True, reuse=False)


def test_interrupted_file_needs_resume_and_reuse_needs_a_complete_one(tmp_path):
    path = tmp_path / "s.st"
    wanted = lambda: bg.SamplingPlan.new("m", None, 250, 3, 100)  # noqa: E731
    bg.sample_in_chunks(FakeGenerator(), wanted(), path, progress=False, stop_after=2)
    with pytest.raises(bg.SamplesMismatchError, match="2 of 3 chunks.*--resume"):
        bg.open_or_plan(path, wanted(), resume=False, reuse=False)
    with pytest.raises(bg.SamplesMismatchError, match="2 of 3 chunks.*--resume"):
        bg.open_or_plan(path, wanted(), resume=False, reuse=True)
    with pytest.raises(bg.InputError, match="does not exist"):
        bg.open_or_plan(tmp_path / "none.st", wanted(), resume=True, reuse=False)


def test_a_file_whose_graphs_disagree_with_its_record_is_refused(tmp_path):
    from graphgen.data.graph_file import save_graphs

    path = tmp_path / "s.st"
    plan = bg.SamplingPlan.new("m", None, 250, 3, 100)
    plan.chunks_done = 2
    save_graphs(path, FakeGenerator().graphs[:5], {"plan": bg.asdict(plan)})
    with pytest.raises(bg.SamplesMismatchError, match="holds 5 graphs but records 2 finished chunks"):
        bg.read_plan(path)


# -- the suites ------------------------------------------------------------------------------------------------------
MOSES_KEYS = {"num_generated", "num_valid", "num_missing", "num_unparsable", "valid", "unique@1000", "unique@10000",
              "Novelty", "Filters", "IntDiv", "IntDiv2",
              *(f"{m}/{s}" for m in ("FCD", "SNN", "Frag", "Scaf") for s in ("Test", "TestSF"))}
GDSS_KEYS = {"num_generated", "num_valid", "num_missing", "num_unparsable", "validity_wo_correction", "validity",
             "connected", "uniqueness", "novelty", "fcd", "nspdk_mmd"}


@pytest.fixture(scope="module")
def generated():
    """300 molecule graphs (fixed seed), acetylene (valid, not in POOL) and an over-valent carbon: invalid for MOSES
    and for GDSS before correction (the correction lowers its bonds, so GDSS counts it valid afterwards)."""
    graphs = FakeGenerator().sample(300, generator=torch.Generator().manual_seed(0))
    acetylene = smiles_to_data("CC", VOCABS["moses"])
    acetylene.edge_attr = torch.full_like(acetylene.edge_attr, 2)  # bond type 2 = triple
    over = smiles_to_data("C(C)(C)(C)C", VOCABS["moses"])
    over.edge_attr[:] = 1  # every bond (all at the centre carbon) double: valence 8
    return graphs + [acetylene, over]


def test_moses_suite_has_every_key_and_equals_evaluate_molecules(generated):
    ours = quiet(bg.score_moses, generated, REFS, vocab=VOCABS["moses"], progress=False, cache=False)
    assert set(ours) == MOSES_KEYS
    reference = quiet(evaluate_molecules, generated, train=TRAIN, test=TEST, test_scaffolds=TEST_SF,
                      protocol="moses", vocab=VOCABS["moses"], progress=False, cache=False)
    for key in MOSES_KEYS:
        assert ours[key] == pytest.approx(reference[key], rel=1e-9, nan_ok=True), key
    assert ours["valid"] == pytest.approx(301 / 302)  # the pentavalent carbon
    # novelty by hand: distinct valid canonical SMILES not in TRAIN
    distinct = {canonicalize_smiles(s) for s in POOL} | {canonicalize_smiles("C#C")}
    assert ours["Novelty"] == pytest.approx(len(distinct - {canonicalize_smiles(s) for s in TRAIN}) / len(distinct))


def test_gdss_suite_has_every_key_and_equals_evaluate_molecules(generated):
    ours = quiet(bg.score_gdss, generated, REFS, vocab=VOCABS["moses"], progress=False, cache=False)
    assert set(ours) == GDSS_KEYS
    reference = quiet(evaluate_molecules, generated, train=TRAIN, test=TEST, protocol="gdss",
                      vocab=VOCABS["moses"], progress=False, cache=False)
    for key in GDSS_KEYS:
        assert ours[key] == pytest.approx(reference[key], rel=1e-9, nan_ok=True), key
    assert ours["validity_wo_correction"] == pytest.approx(301 / 302)


def test_suites_without_references_leave_those_metrics_out(generated):
    none = bg.References(None, None, None)
    moses = quiet(bg.score_moses, generated[:20], none, vocab=VOCABS["moses"], progress=False, cache=False)
    assert set(moses) == {"num_generated", "num_valid", "num_missing", "num_unparsable", "valid", "unique@1000",
                          "unique@10000", "Filters", "IntDiv", "IntDiv2"}
    gdss = quiet(bg.score_gdss, generated[:20], none, vocab=VOCABS["moses"], progress=False, cache=False)
    assert set(gdss) == {"num_generated", "num_valid", "num_missing", "num_unparsable", "validity_wo_correction",
                         "validity", "connected", "uniqueness"}


def test_moses_suite_without_a_valid_molecule_matches_evaluate_molecules(generated):
    invalid = [generated[-1]] * 3  # the over-valent carbon
    ours = quiet(bg.score_moses, invalid, REFS, vocab=VOCABS["moses"], progress=False, cache=False)
    reference = quiet(evaluate_molecules, invalid, train=TRAIN, test=TEST, test_scaffolds=TEST_SF,
                      protocol="moses", vocab=VOCABS["moses"], progress=False, cache=False)
    assert ours.keys() == reference.keys() and ours["valid"] == 0.0


# -- anchors ---------------------------------------------------------------------------------------------------------
def test_anchor_table_puts_our_row_under_the_published_ones():
    text = bg.anchor_table("moses", {"valid": 0.5, "unique@10000": 1.0, "Novelty": 0.25, "Filters": 0.9,
                                     "FCD/TestSF": 3.5, "SNN/TestSF": 0.4, "Scaf/TestSF": float("nan")})
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["system", "valid", "%"]
    names = [line.split("  ")[0].strip() for line in lines[2:]]
    assert names == ["DiGress", "DeFoG", "best reported (2026)", "training set", "graphgen (this run)"]
    assert lines[-1].split()[3:] == ["50", "100", "25", "90", "3.5", "0.4", "n/a"]
    assert lines[5].split()[2:] == ["100", "100", "-", "100", "0.48", "0.59", "-"]  # the training-set row
    zinc = bg.anchor_table("zinc250k", {"validity_wo_correction": 0.9712, "fcd": 2.0})
    assert "SwinGNN-L" in zinc and zinc.splitlines()[-1].split()[3:] == ["97.12", "2", "n/a"]
    assert bg.anchor_table("qm9", {}) is None


@settings(max_examples=2000, derandomize=True, deadline=None)
@given(st.dictionaries(st.sampled_from([k for k, _ in bg.MOSES_ANCHORS.ours]),
                       st.floats(allow_nan=True, allow_infinity=True, width=32)))
def test_fuzz_anchor_row_shows_each_score_in_the_published_unit(scores):
    last = bg.anchor_table("moses", scores).splitlines()[-1].split()[3:]
    for cell, (key, factor) in zip(last, bg.MOSES_ANCHORS.ours):
        value = scores.get(key)
        if value is None or not np.isfinite(value * factor):
            assert cell == "n/a"
        else:
            assert float(cell) == pytest.approx(value * factor, rel=1e-3, abs=1e-300)


# -- fuzz: chunked sampling and resume -------------------------------------------------------------------------------
# Both suites call sample_in_chunks and open_or_plan in every case: 1,000 + 1,000 = 2,000 cases for each.
@settings(max_examples=1000, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 12), chunk=st.integers(1, 5), seed=st.integers(0, 2 ** 40), cuts=st.lists(
    st.integers(1, 3), max_size=3), batch=st.one_of(st.none(), st.integers(1, 4)))
def test_fuzz_any_sequence_of_interruptions_gives_the_uninterrupted_samples(tmp_path, n, chunk, seed, cuts, batch):
    model = FakeGenerator()
    new = lambda: bg.SamplingPlan.new("m", None, n, seed, chunk)  # noqa: E731
    expected = [(g.x.tolist(), g.edge_index.tolist()) for g in
                [model.sample(new().chunk_count(i), generator=torch.Generator().manual_seed(s))
                 for i, s in enumerate(new().chunk_seeds)] for g in g]
    path = tmp_path / f"f{n}_{chunk}_{seed}.st"
    path.unlink(missing_ok=True)
    graphs, plan = bg.open_or_plan(path, new(), resume=False, reuse=False)
    for cut in cuts + [None]:  # killed after `cut` chunks, then resumed from the file; None: run to the end
        graphs = bg.sample_in_chunks(model, plan, path, graphs=graphs, batch_size=batch, progress=False,
                                     stop_after=cut)
        graphs, plan = bg.open_or_plan(path, new(), resume=True, reuse=False)
    assert plan.complete and [(g.x.tolist(), g.edge_index.tolist()) for g in graphs] == expected


@settings(max_examples=1000, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["model", "model_sha256", "num_samples", "seed", "chunk_size"]),
       n=st.integers(2, 8), chunk=st.integers(1, 4), seed=st.integers(0, 1000), resume=st.booleans())
def test_fuzz_every_changed_field_is_refused_and_named(tmp_path, field, n, chunk, seed, resume):
    path = tmp_path / "s.st"
    path.unlink(missing_ok=True)
    base = dict(model="m", model_sha256="abc", num_samples=n, seed=seed, chunk_size=chunk)
    plan = bg.SamplingPlan.new(*base.values())
    bg.sample_in_chunks(FakeGenerator(), plan, path, progress=False, stop_after=None if not resume else 1)
    other = dict(base)
    other[field] = {"model": "m2", "model_sha256": "abd", "num_samples": n + 1, "seed": seed + 1,
                    "chunk_size": chunk + 1}[field]
    _, err = run_case(lambda: bg.open_or_plan(path, bg.SamplingPlan.new(*other.values()), resume=resume,
                                              reuse=not resume))
    expect_error(err, [f"{field}: file"], f"{field} changed")
    graphs, same = bg.open_or_plan(path, bg.SamplingPlan.new(*base.values()), resume=resume, reuse=not resume)
    assert same.identity() == plan.identity() and len(graphs) == sum(plan.chunk_count(i)
                                                                      for i in range(same.chunks_done))


# -- the command -----------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_command(monkeypatch, tmp_path):
    """``graphgen bench generate`` with a fake model folder and the small reference sets above."""
    import graphgen.generate as generate

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights v1")
    models = {"next": FakeGenerator()}
    monkeypatch.setattr(generate, "load_generator", lambda name, **kw: models["next"])
    monkeypatch.setattr(bg.References, "of_dataset", classmethod(lambda cls, dataset: REFS))
    return folder, models


def _bench(folder, out, *extra):
    from graphgen.train.bench import add_arguments, run_generate
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["generate", "--model", str(folder), "--json", str(out), "--no-progress", *extra])
    return quiet(run_generate, args)


def test_command_resumes_a_killed_run_and_prints_the_anchors(fake_command, tmp_path, capsys):
    folder, models = fake_command
    common = ("--dataset", "moses", "-n", "250", "--chunk-size", "100", "--seed", "5")
    _bench(folder, tmp_path / "whole.json", *common)
    whole = load_graphs(tmp_path / "whole.samples.safetensors")[0]
    printed = capsys.readouterr().out
    for name in ("DiGress", "DeFoG", "best reported (2026)", "training set", "graphgen (this run)"):
        assert name in printed
    scores = json.loads((tmp_path / "whole.json").read_text())["scores"]
    assert set(scores) >= MOSES_KEYS and scores["samples"] == 250
    ours = [line for line in printed.splitlines() if line.startswith("graphgen (this run)")][0].split()[3:]
    assert float(ours[0]) == pytest.approx(100 * scores["valid"], rel=1e-3)

    models["next"] = FakeGenerator(fail_on_call=3)  # killed during the third chunk
    with pytest.raises(RuntimeError, match="killed"):
        _bench(folder, tmp_path / "cut.json", *common)
    assert len(load_graphs(tmp_path / "cut.samples.safetensors")[0]) == 200
    # the command refuses as its other refusals do (SystemExit with a one-line message; the CLI exits 2)
    with pytest.raises(SystemExit, match="graphgen bench generate: .*interrupted run.*--resume"):
        _bench(folder, tmp_path / "cut.json", *common)
    with pytest.raises(SystemExit, match="seed: file 5, this run 6"):
        _bench(folder, tmp_path / "cut.json", *common[:-1], "6", "--resume")
    models["next"] = FakeGenerator()
    resumed_scores = _bench(folder, tmp_path / "cut.json", *common, "--resume")
    assert signature(load_graphs(tmp_path / "cut.samples.safetensors")[0]) == signature(whole)
    assert {k: resumed_scores[k] for k in MOSES_KEYS} == {k: scores[k] for k in MOSES_KEYS}
    (folder / "model.safetensors").write_bytes(b"weights v2")  # retrained in place: its samples are another run's
    with pytest.raises(SystemExit, match="model_sha256"):
        _bench(folder, tmp_path / "cut.json", *common, "--resume")


def test_command_zinc250k_prints_the_gdss_protocol_anchors(fake_command, tmp_path, capsys):
    folder, models = fake_command
    models["next"] = FakeGenerator(vocab="zinc250k")
    scores = _bench(folder, tmp_path / "z.json", "--dataset", "zinc250k", "-n", "120", "--chunk-size", "50")
    printed = capsys.readouterr().out
    assert set(scores) >= GDSS_KEYS
    for name in ("GDSS (0.37M params)", "SwinGNN-L (35.9M)", "PARD (unverified)", "graphgen (this run)"):
        assert name in printed


def test_default_sample_counts_are_the_protocols():
    from graphgen.train.bench import add_arguments
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    counts = {d: bg.resolve_num_samples(parser.parse_args(["generate", "--dataset", d])) for d in
              ("moses", "zinc250k", "qm9")}
    assert counts == {"moses": 30_000, "zinc250k": 10_000, "qm9": 1_000}


@pytest.mark.slow
def test_real_zinc250k_references(shared_data):
    """The GDSS suite against the real ZINC250k train / test splits (builds the ZINC250k cache, ~1-2 min)."""
    graphs = FakeGenerator(vocab="zinc250k").sample(200, generator=torch.Generator().manual_seed(0))
    scores = quiet(bg.score_samples, graphs, "zinc250k", "gdss", VOCABS["zinc250k"], progress=False,
                   data_dir=str(shared_data))
    assert set(scores) == GDSS_KEYS and scores["fcd"] > 0 and 0 <= scores["novelty"] <= 1
