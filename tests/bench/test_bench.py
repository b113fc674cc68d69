"""The benchmark package: page assembly, and the sections in a tiny configuration.

Everything here but the end-to-end test takes a few seconds; that one starts
real processes (about 20 s on 2 cores) and is marked slow. The full sections
run through `make bench`.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks import __main__ as bench_main
from benchmarks.machine import LoadMonitor


def fake(text: str) -> bench_main.Runner:
    return lambda quick: text


def test_a_section_gets_when_and_under_what_load_it_was_measured() -> None:
    monitor = LoadMonitor(period_s=0.05).start()
    try:
        runner = fake("## Classifier throughput\n\nnumbers\n")
        body, ok = bench_main.measure("classifier", True, monitor, "python -m benchmarks --quick", runner)
    finally:
        monitor.stop()
    assert ok
    lines = body.splitlines()
    assert lines[0] == "## Classifier throughput", "the heading stays first"
    expected = (
        r"_Measured .* UTC in \d+ s, quick mode \(`python -m benchmarks --quick`\) "
        r"on .*, (AVX-512|AVX2|no AVX2), with(out)? fast int8 dot products; load during the section: 1-min load average"
    )
    assert re.match(expected, lines[2]), lines[2]
    assert "numbers" in body


def test_a_missing_section_module_is_noted_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert bench_main.load_section("no_such_section") is None, "a module that does not exist is no section"
    monkeypatch.setattr(bench_main, "load_section", lambda name: None)  # e.g. before bench/ingest.py is written
    body, ok = bench_main.measure("ingest", True, LoadMonitor(), "cmd")
    assert ok, "a missing section does not fail the run"
    assert body.startswith("## Ingest") and "Not measured" in body and "benchmarks.ingest" in body, body


def test_a_failing_section_is_reported_and_the_run_goes_on() -> None:
    def broken(quick: bool) -> str:
        raise RuntimeError("boom")

    body, ok = bench_main.measure("e2e", True, LoadMonitor(), "cmd", broken)
    assert not ok and "**Failed**" in body and "boom" in body


def test_only_splices_the_named_sections_into_the_existing_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a page with a classifier and an e2e section,
    page = tmp_path / "BENCH.md"
    old = {
        "machine": "## Machine\n\nold machine\n",
        "classifier": "## Classifier throughput\n\nTarget (old classifier): kept\n",
        "e2e": "## End-to-end latency\n\nold e2e\n",
    }
    page.write_text(bench_main.assemble(old, "old command"))
    runners = {"machine": fake("## Machine\n\nnew machine\n"), "e2e": fake("## End-to-end latency\n\nTarget (e2e): new\n")}
    monkeypatch.setattr(bench_main, "load_section", lambda name: runners.get(name))
    # when only e2e is measured again,
    assert bench_main.main(["--quick", "--only", "e2e", "--out", str(page)]) == 0
    # then e2e and the machine are new, the classifier section is kept, and the targets list both.
    blocks = bench_main.split_page(page.read_text())
    assert list(blocks) == ["machine", "classifier", "e2e"], list(blocks)
    assert "new machine" in blocks["machine"] and "Target (e2e): new" in blocks["e2e"]
    assert blocks["classifier"] == old["classifier"], "a section not measured is kept as it was"
    text = page.read_text()
    assert "- Target (old classifier): kept" in text and "- Target (e2e): new" in text, text
    assert "`python -m benchmarks --quick --only e2e --out" in text, "the page says how it was made"


def test_unknown_sections_are_refused(tmp_path: Path) -> None:
    assert bench_main.main(["--only", "no_such_section", "--out", str(tmp_path / "x.md")]) == 2


def test_machine_section_describes_the_machine() -> None:
    from benchmarks import machine

    text = machine.run(quick=True)
    wanted = ("| CPU |", "| cores |", "| memory |", "| OS |", "| Python |", "| TensorFlow / Keras / LiteRT |", "| date |", "Load average at")
    for item in wanted:
        assert item in text, f"{item!r} missing from:\n{text}"


def test_cpu_meter_sees_a_busy_process() -> None:
    from benchmarks.procstat import CpuMeter

    meter = CpuMeter({"me": os.getpid()}).start()
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    meter.stop()
    assert meter.cores["me"] is not None and meter.cores["me"] > 0.2, f"a spinning process used {meter.cores['me']} cores"


def test_multiply_adds_match_the_architectures_stated_costs() -> None:
    from benchmarks.models import multiply_adds
    from emostream.training.models import ModelSpec, build_compact, build_standard

    compact = multiply_adds(build_compact(ModelSpec(weights=None)))
    assert 9e6 < compact < 17e6, f"build_compact should be near 10-16 M multiply-adds per face, counted {compact / 1e6:.1f} M"
    standard = multiply_adds(build_standard(ModelSpec(weights=None)))
    assert 74e6 < standard < 76e6, f"build_standard says about 75 M multiply-adds per face, counted {standard / 1e6:.1f} M"


def test_classifier_section_in_a_tiny_configuration() -> None:
    from benchmarks import classifier
    from benchmarks.models import candidates_of
    from emostream.infra.modelcard import load_card

    cands = [c for c in candidates_of("mini-xception", load_card("mini-xception"), "packaged") if c.fmt == "tflite"]
    rows = classifier.measure(cands, batch_sizes=(1, 4), seconds=0.05, rounds=1)
    text = classifier.render(rows, (1, 4), 0.05, 1)
    assert rows[0].macs and rows[0].macs > 1e6, "mini-Xception's multiply-adds are counted"
    assert all(p.faces_s > 0 for p in rows[0].points)
    assert "| mini-xception | tflite (float32) |" in text, text
    assert "not measured, no compact model present" in text
    assert "Target (default model" in text and "the default model is not packaged" in text, "only mini-Xception was measured"


def test_baseline_classification_rates_in_a_tiny_configuration() -> None:
    from benchmarks import baseline
    from emostream.infra.modelcard import load_card

    card = load_card("mini-xception")
    crops = np.random.default_rng(0).integers(0, 256, (3, *card.input_shape), dtype=np.uint8)
    rates = baseline.classification_rates(card, [[crops[0], crops[1]], [], [crops[2]]], per_face_limit=2)
    names = [r.name for r in rates]
    assert names[0].startswith("per face: `model.predict") and any("batches of 32" in n for n in names), names
    assert rates[0].faces == 2 and rates[-1].faces == 3
    text = baseline.render(rates, [], per_face_limit=2)
    assert "| per face: `model.predict(face[None])` | 2 |" in text, text


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_e2e_section_with_one_source(tmp_path: Path) -> None:
    from benchmarks import e2e

    results = e2e.measure((1,), 4.0, tmp_path)
    assert results[0].faces > 0 and results[0].publish_ms, "events arrived"
    assert "| 1 × 10 fps |" in e2e.render(results, 4.0)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_redis_costs_section_reads_the_servers_own_counters(tmp_path: Path) -> None:
    from benchmarks import redis_costs

    # Given 2 sources x 5 frames x 2 faces through the real roles, when the server's counters are read,
    costs = redis_costs.measure(2, 5, tmp_path)
    ingest, classifier, aggregator = costs.phases
    # then each role's commands are the ones it sends: ingest one XADD per face and per session start, one EXEC per frame,
    # the classifier one event XADD per face (inside its commit script), the aggregator at least one script call per batch;
    assert ingest.commands["xadd"] == costs.faces + costs.sources and ingest.commands["exec"] == costs.faces // 2, ingest.commands
    assert classifier.commands["xadd"] == costs.faces and classifier.commands["xack"] >= 1, classifier.commands
    assert aggregator.commands.get("evalsha", 0) + aggregator.commands.get("eval", 0) >= 1, aggregator.commands
    # and a waiting face job holds at least its crop in memory.
    memory = {what: value for what, value, _ in costs.memory}
    assert memory["face job waiting in `<prefix>:faces`"] > 48 * 48, memory
    assert "| **all three roles** |" in redis_costs.report(costs, "7", 1)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_roles_alone_times_one_ingest_process_from_its_sessions(tmp_path: Path) -> None:
    from benchmarks import roles

    # Given the demo clip through one ingest process alone, when its rate is read from the lifecycle stream,
    row = roles.ingest_alone(1, tmp_path)
    # then it published faces, at a rate no 2-core machine reaches by decoding alone (a bug in the timing would show here).
    assert row.role == "ingest" and row.unit == "faces/s"
    assert 10 < row.rate < 20_000, row


def test_reports_go_to_the_repository_docs_whatever_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import ROOT, soak

    monkeypatch.chdir(tmp_path)
    assert (ROOT / "pyproject.toml").is_file(), f"{ROOT} is not the repository root"
    assert bench_main.parse_args([]).out == ROOT / "docs" / "BENCHMARKS.md"
    assert soak.parse_args([]).out == ROOT / "docs" / "SOAK.md"


def test_each_stage_profile_row_is_named_after_the_detector_and_interval_it_runs() -> None:
    from benchmarks import ingest
    from emostream.config import DetectorConfig

    # Given every run of the full and the quick stage profile (settings {} being the checkout's default detector),
    runs = [r for quick in (False, True) for _, r in ingest.profile_runs(quick)]
    for run in runs:
        cfg = DetectorConfig.model_validate(run.settings)
        # then each row's name starts with the backend it runs, says "every frame" exactly when it detects every frame,
        assert run.detector.startswith(cfg.backend), (run.detector, cfg.backend)
        assert ("every frame" in run.detector) == (cfg.interval == 1), (run.detector, cfg.interval)
        # and only the default configuration's rows are called the default.
        assert ("(default)" in run.detector) == (run.settings == {}), run.detector
    # The default before YuNet stays measured beside it at 640x480 and 1280x720.
    sizes = {size for size, r in ingest.profile_runs(False) if r.detector == ingest.AUTO}
    assert sizes == {"640x480", "1280x720"}, sizes


@pytest.mark.timeout(300)
def test_the_stage_profile_accounts_for_every_analysed_frame_of_one_and_two_sources(tmp_path: Path) -> None:
    from benchmarks import ingest, ingest_stages

    # Given the demo clip through a real in-process ingest worker with the stage clock on, once alone and twice in one process,
    short = {"backend": "blazeface", "range": "short"}
    runs = [("640x360", ingest_stages.Run("blazeface short", short, n)) for n in (1, 2)]
    one, two = ingest_stages.measure({"640x360": ingest.demo_clip()}, runs, tmp_path)
    # then every frame of every source was analysed and its faces published,
    assert (one.frames, two.frames) == (180, 360), (one, two)
    assert one.faces > 250 and two.faces == 2 * one.faces, "the same clip twice publishes twice the faces"
    # each stage took some CPU, whichever thread ran it, and the source, decode, detection and writer threads each worked part of the run,
    for profile in (one, two):
        assert all(profile.cpu[stage] > 0 for stage in ingest_stages.STAGES), profile.cpu
        assert profile.cpu["rest"] >= 0 and profile.cpu["other threads"] >= 0, profile.cpu
        assert set(profile.busy) == {"source", "decode", "detect", "writer"} and all(0 < b <= 1.05 for b in profile.busy.values()), profile.busy
        assert 0 < profile.fps < 5_000 and 0 < profile.cores <= 1.05 * (os.cpu_count() or 1), profile
    # and each table has one row per run, the CPU shares adding up to about 100%.
    text = ingest_stages.render([one, two])
    rows = [line for line in text.splitlines() if line.startswith("| 640x360 | blazeface short |")]
    assert len(rows) == 4, text
    shares = [int(cell.strip().split("%")[0]) for cell in rows[2].strip(" |").split(" | ")[5:]]  # after size .. ms/frame
    assert len(shares) == len(ingest_stages.STAGES) + 2, rows[2]  # the stages, the rest and other threads
    assert 95 <= sum(shares) <= 105, rows[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sources_divided_among_ingest_processes_are_all_analysed_and_timed_from_their_sessions(tmp_path: Path) -> None:
    from benchmarks import ingest, ingest_procs

    # Given three copies of the demo clip dealt to two ingest processes,
    split = ingest_procs.run_split(ingest.demo_clip(), 3, 2, {"backend": "blazeface", "range": "short"}, tmp_path)
    # then every frame of each was analysed, and the rate and the cores are those of real work.
    assert (split.sources, split.processes, split.frames) == (3, 2, 540), split
    assert split.faces > 3 * 250 and 0 < split.fps < 5_000 and 0 < split.cores <= 1.05 * (os.cpu_count() or 1), split
    assert "| blazeface short | 3 | 2 |" in ingest_procs.render([("blazeface short", split)])


def test_camera_section_scores_each_model_clean_and_through_every_condition(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import camera
    from emostream.training.data import Dataset
    from emostream.training.robustness import CONDITIONS

    rng = np.random.default_rng(23)
    images = rng.integers(0, 256, (24, 48, 48, 1), dtype=np.uint8)
    results = camera.agreements(("fast",), Dataset(images, np.eye(7, dtype=np.float32)[rng.integers(0, 7, 24)]))
    assert list(results["fast"]) == ["clean", *CONDITIONS] and all(0.0 <= v <= 1.0 for v in results["fast"].values())
    table = camera.rows(results)
    assert [r[0] for r in table] == ["clean", *CONDITIONS, "**mean of the 12 conditions**", "mean of the 6 harsh levels"]
    mean = np.mean([results["fast"][n] for n in CONDITIONS])
    assert table[-2][1] == f"**{100 * mean:.2f}**"
    monkeypatch.setenv("EMOSTREAM_FER_DIR", "/nonexistent")
    assert "Not measured: FER2013 and FER+ votes not found in /nonexistent" in camera.run(quick=True)
