"""Scene benchmark (issue #23): generated scenes of FER faces, faceless clips, real photos.

``python -m benchmarks --only scenes`` measures the three splits end to end and
writes the "Scenes" section; ``python -m benchmarks.scenes`` runs one split,
or the detector alone (``--detector-only``), for tuning. Modules: ``faces``
(FER pool per split), ``compose``/``backgrounds``/``faceless``/``scene``
(pixels and ground truth), ``conditions`` (what each clip varies), ``encode``
and ``generate`` (the cache under ``build/scenes``), ``pipeline`` (the real
processes), ``evaluate`` (matching and scores), ``detect`` (detector only),
``realmedia`` (annotated photos), ``report`` (markdown), ``testclips``
(small clips for the test suite), ``fidelity``/``cropvariants`` (what the
classifier sees: where agreement is lost) and ``rollstudy`` (roll on 600
people).
"""

from __future__ import annotations


def run(quick: bool) -> str:
    """The section: the three splits (``quick``: the ``test`` split only), the roll study, the real photos, the method."""
    from benchmarks.markdown import table
    from benchmarks.scenes.measure import measure_split
    from benchmarks.scenes.realmedia import detect_photos
    from benchmarks.scenes.report import METHOD, split_section
    from benchmarks.scenes.rollstudy import section, study

    splits = ("test",) if quick else ("tune", "test", "fresh")
    parts = ["## Scenes", "", METHOD, ""]
    studies = []
    for split in splits:
        studies.append(study(split))  # offline, before the pipeline's run: its 30° cost is one of the split's targets
        parts += [split_section(measure_split(split), studies[-1].cost_30), ""]
    parts += [section(studies), ""]
    photos = table(["photo", "frame", "face width px", "faces", "found", "false faces"], detect_photos())
    parts += ["Real photos (public domain, shipped in scikit-image and matplotlib; the default detector alone):", "", photos]
    return "\n".join(parts) + "\n"
