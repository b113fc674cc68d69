"""The FER+ models on faces as a camera gives them: FER+ Valid clean and through twelve OpenCV conditions (issue 23).

A model's FER+ Valid figure is measured on clean web photos; a camera's face
has been blurred, compressed, dimly or harshly exposed, scaled up from a few
dozen pixels or made noisy. Each condition of ``emostream.training.robustness``
(OpenCV's own blur, JPEG, gamma and gain, resampling and noise on the 48 px
face) is applied to every FER+ Valid face with a clear majority, and each
FER+ model is scored as its card serves it (TFLite file, flip TTA, priors), as
``emostream evaluate --camera all`` does. The faces are FER+'s, labelled by
its annotators: material the project did not make.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MODELS = ("fast", "accurate")
QUICK_FACES = 600


def agreements(models: tuple[str, ...], faces: Any) -> dict[str, dict[str, float]]:
    """{model: {"clean" | condition: FER+ agreement (0-1)}} on ``faces`` (a labelled Dataset)."""
    from emostream.training.evalcli import evaluate_through_camera

    return {m: {name: float(r["accuracy"]) for name, r in evaluate_through_camera(m, faces, fmt="tflite").items()} for m in models}


def rows(results: dict[str, dict[str, float]]) -> list[list[str]]:
    """One row per condition, then the mean of all twelve and of the six harsh levels; agreement in %."""
    models = list(results)
    conditions = [n for n in next(iter(results.values())) if n != "clean"]

    def pct(value: float) -> str:
        return f"{100 * value:.2f}"

    out = [[name, *(pct(results[m][name]) for m in models)] for name in ("clean", *conditions)]
    out.append(["**mean of the 12 conditions**", *(f"**{pct(float(np.mean([results[m][n] for n in conditions])))}**" for m in models)])
    from emostream.training.robustness import HARSH

    out.append(["mean of the 6 harsh levels", *(pct(float(np.mean([results[m][n] for n in HARSH]))) for m in models)])
    return out


def run(quick: bool) -> str:
    from benchmarks.markdown import table
    from benchmarks.scenes.faces import fer_dir
    from emostream.infra.modelcard import load_card
    from emostream.training.table import labelled, load_table

    folder = fer_dir()
    csv, votes = folder / "fer2013.csv.gz", folder / "fer2013new.csv"
    if not (csv.is_file() and votes.is_file()):
        return f"## Faces as cameras give them\n\nNot measured: FER2013 and FER+ votes not found in {folder} (set EMOSTREAM_FER_DIR).\n"
    faces = labelled(load_table(csv, votes), "PublicTest", "ferplus-majority")
    if quick:
        faces = faces.subset(np.sort(np.random.default_rng(23).permutation(len(faces))[:QUICK_FACES]))
    results = agreements(MODELS, faces)
    headers = ["faces", *(f"`{m}` {load_card(m).version}, % agreement" for m in MODELS)]
    return "\n".join(
        [
            "## Faces as cameras give them",
            "",
            f"FER+ Valid ({len(faces):,} faces with a clear majority{', a seeded subset: quick mode' if quick else ''}) clean and through each "
            "condition of `emostream.training.robustness`, every model as its card serves it (`emostream evaluate --model NAME --format "
            "tflite --labels ferplus-majority --camera all`). Blur: Gaussian sigma in px; JPEG: quality; dark: gamma 1.6 and this gain, "
            "8-bit levels; lowres: scaled down to this many px and back; noise: grey levels; bright: gain, clipped. The harsh levels are "
            "the second of each pair; `tests/training/test_shipped_models.py` holds the default to 72 % on their mean "
            '(docs/MODEL.md, "Faces as cameras give them").',
            "",
            table(headers, rows(results)),
            "",
        ]
    )
