"""emostream analyze: annotated copies and JSON lines for images, folders and videos."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from emostream.config import parse_config
from emostream.infra.emotions import EMOTIONS
from emostream.viewer.analyze import run
from emostream.viewer.inputs import AnalyzeError, collect_inputs


@pytest.fixture(scope="module")
def portrait(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frame of the demo clip with both portraits, as a PNG."""
    from emostream.run.pipeline import demo_clip

    folder = tmp_path_factory.mktemp("portrait")
    with av.open(str(demo_clip())) as clip:
        frame = next(clip.decode(video=0)).to_ndarray(format="bgr24")
    path = folder / "two_faces.png"
    cv2.imwrite(str(path), frame)
    return path


def records(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "detections.jsonl").read_text().splitlines()]


def test_an_image_gets_an_annotated_copy_and_one_line_per_face(portrait: Path, tmp_path: Path) -> None:
    done, faces, errors = run([portrait], tmp_path / "out", parse_config({}))
    assert (done, faces, errors) == (1, 2, [])
    lines = records(tmp_path / "out")
    assert {tuple(sorted(r)) for r in lines} == {("box", "confidence", "emotion", "file", "frame", "model", "probabilities", "pts", "score")}
    for line in lines:
        probs = line["probabilities"]
        assert isinstance(probs, dict) and list(probs) == list(EMOTIONS)
        assert abs(sum(probs.values()) - 1) < 0.01 and line["emotion"] in EMOTIONS
    original, annotated = cv2.imread(str(portrait)), cv2.imread(str(tmp_path / "out" / portrait.name))
    assert annotated.shape == original.shape
    assert np.mean(cv2.absdiff(original, annotated)) > 1, "the copy should carry boxes and bars"


def test_every_input_gets_a_line_an_image_without_a_face_included(portrait: Path, tmp_path: Path) -> None:
    # Given a portrait and a plain gray picture, in a folder
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(portrait, folder / "people.png")
    cv2.imwrite(str(folder / "wall.png"), np.full((240, 320, 3), 128, np.uint8))
    printed = io.StringIO()
    # When analyze goes through the folder
    done, faces, errors = run([folder], tmp_path / "out", parse_config({}), out=printed)
    lines = printed.getvalue().splitlines()
    # Then the faceless picture has its own line, the portrait its face lines, and the total counts both inputs
    assert (done, faces, errors) == (2, 2, []), (done, faces, errors)
    assert f"{folder / 'wall.png'}: no face" in lines, lines
    assert sum(line.startswith(f"{folder / 'people.png'} face ") for line in lines) == 2, lines
    assert not any("people.png: no face" in line for line in lines), lines
    assert lines[-1].startswith("analysed 2 of 2 input(s): 2 face(s)"), lines


def test_blur_makes_faces_unrecognisable(portrait: Path, tmp_path: Path) -> None:
    run([portrait], tmp_path / "plain", parse_config({}))
    run([portrait], tmp_path / "blurred", parse_config({}), blur=True)
    box = records(tmp_path / "plain")[0]["box"]
    assert isinstance(box, dict)
    x, y, w, h = (int(box[k]) for k in "xywh")
    inner = (slice(y + h // 4, y + 3 * h // 4), slice(x + w // 4, x + 3 * w // 4))  # away from the drawn box edges

    def sharpness(path: Path) -> float:
        gray = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)[inner]
        return float(cv2.Laplacian(gray, cv2.CV_64F).var())

    plain, blurred = sharpness(tmp_path / "plain" / portrait.name), sharpness(tmp_path / "blurred" / portrait.name)
    assert blurred < plain / 10, f"blurred face still sharp: {blurred:.1f} vs {plain:.1f}"


def test_a_video_is_annotated_frame_by_frame(tmp_path: Path) -> None:
    from emostream.run.pipeline import demo_clip

    done, faces, errors = run([demo_clip()], tmp_path / "out", parse_config({}), every_nth=10)
    assert done == 1 and not errors
    lines = records(tmp_path / "out")
    assert faces == len(lines) and faces >= 25, f"18 sampled frames with up to 2 faces gave {faces}"
    assert all(isinstance(r["frame"], int) and int(r["frame"]) % 10 == 0 for r in lines)
    with av.open(str(tmp_path / "out" / "demo.mp4")) as out:
        assert sum(1 for _ in out.decode(video=0)) == 180, "every frame of the clip is in the annotated copy"


def test_bad_inputs_are_reported_and_do_not_stop_the_others(portrait: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(portrait, folder / "good.png")
    (folder / "broken.mp4").write_bytes(b"this is not a video" * 100)
    (folder / "broken.png").write_bytes(b"not a png either")
    (folder / "notes.txt").write_text("ignored: not an image or video")
    done, faces, errors = run([folder], tmp_path / "out", parse_config({}))
    assert done == 1 and faces == 2, "the good image is still analysed"
    assert len(errors) == 2 and any("broken.mp4" in e for e in errors) and any("broken.png" in e for e in errors), errors
    assert (tmp_path / "out" / "in" / "good.png").is_file(), "folder structure is kept under the output folder"


def test_unknown_files_and_missing_paths_are_clear_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(AnalyzeError, match="not an image or video"):
        collect_inputs([text])
    with pytest.raises(AnalyzeError, match="no such file"):
        collect_inputs([tmp_path / "missing.jpg"])


def _real_picture(folder: Path, name: str) -> Path:
    """A public-domain picture shipped with scikit-image or matplotlib, written as a PNG."""
    import matplotlib.cbook
    from skimage import data as skdata

    if name == "grace_hopper":
        with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
            image = cv2.imdecode(np.frombuffer(f.read(), np.uint8), cv2.IMREAD_COLOR)
    else:
        image = np.ascontiguousarray(getattr(skdata, name)()[..., ::-1])  # RGB to BGR
    path = folder / f"{name}.png"
    cv2.imwrite(str(path), image)
    return path


def test_only_faces_that_pass_the_face_check_are_reported(tmp_path: Path) -> None:
    # Given two portraits and the Hubble deep field, whose galaxies the detector alone takes for faces
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("astronaut", "grace_hopper", "hubble_deep_field"):
        _real_picture(folder, name)
    # ... which the detector alone reports as faces (how many depends on its settings: tiles, scores)
    _, unchecked, _ = run([folder / "hubble_deep_field.png"], tmp_path / "raw", parse_config({"detector": {"check": False}}), out=io.StringIO())
    assert unchecked >= 1

    def _candidates(n: int) -> str:
        return f"{n} candidate{'s' if n != 1 else ''}"

    printed = io.StringIO()
    # When analyze goes through them with the default configuration
    done, faces, errors = run([folder], tmp_path / "out", parse_config({}), out=printed)
    lines = printed.getvalue().splitlines()
    # Then each portrait has its face, the galaxies none, and the lines say what the check turned down: every one of them
    assert (done, faces, errors) == (3, 2, []), lines
    assert {Path(str(r["file"])).stem for r in records(tmp_path / "out")} == {"astronaut", "grace_hopper"}
    hubble = [line for line in lines if "hubble_deep_field.png" in line]
    assert len(hubble) == 1 and hubble[0].endswith(f": no face ({_candidates(unchecked)} refused by the face check)"), lines
    assert not any("refused" in line for line in lines if "astronaut" in line or "grace_hopper" in line), lines
    assert lines[-1].startswith(f"analysed 3 of 3 input(s): 2 face(s) ({_candidates(unchecked)} refused by the face check);"), lines


def test_no_check_on_the_command_line_reports_what_the_detector_alone_finds(tmp_path: Path) -> None:
    import argparse

    from emostream.viewer.analyze import add_arguments, main

    picture = _real_picture(tmp_path, "hubble_deep_field")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args([str(picture), "--out", str(tmp_path / "checked")])) == 0
    assert records(tmp_path / "checked") == []
    assert main(parser.parse_args([str(picture), "--out", str(tmp_path / "raw"), "--no-check"])) == 0
    assert len(records(tmp_path / "raw")) >= 1  # the galaxies the check refused
