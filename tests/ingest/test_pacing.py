"""Pacing: live sources analyse at most fps frames per second; files every frame or every n-th."""

from __future__ import annotations

from emostream.ingest.pacing import FilePacer, LivePacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_live_pacer_admits_at_most_fps_frames_per_second() -> None:
    clock = FakeClock()
    pacer = LivePacer(fps=10, clock=clock)
    admitted = 0
    for _ in range(300):  # a 30 fps camera for 10 seconds
        admitted += pacer.admit()
        clock.now += 1 / 30
    assert 99 <= admitted <= 101, f"expected about 100 frames in 10 s at 10 fps, got {admitted}"


def test_live_pacer_does_not_halve_a_slightly_faster_source() -> None:
    clock = FakeClock()
    pacer = LivePacer(fps=10, clock=clock)
    admitted = 0
    for _ in range(105):  # 10.5 fps for 10 s: nearly every frame should pass
        admitted += pacer.admit()
        clock.now += 1 / 10.5
    assert admitted >= 95, f"a 10.5 fps source paced at 10 fps kept only {admitted} of 105 frames"


def test_live_pacer_wait_reports_time_to_next_slot() -> None:
    clock = FakeClock()
    pacer = LivePacer(fps=4, clock=clock)
    assert pacer.admit()
    assert pacer.wait_s() == 0.125, "the next frame may come half an interval early"
    clock.now += 0.1
    assert not pacer.admit()
    assert abs(pacer.wait_s() - 0.025) < 1e-9


def test_file_pacer_keeps_every_nth_frame() -> None:
    pacer = FilePacer(every_nth=3)
    kept = [i for i in range(10) if pacer.admit(i / 30)]
    assert kept == [0, 3, 6, 9]


def test_file_pacer_realtime_waits_for_presentation_time() -> None:
    clock = FakeClock()
    pacer = FilePacer(realtime=True, clock=clock, sleep=clock.sleep)
    start = clock.now
    for index in range(31):
        assert pacer.admit(index / 30)
    assert abs((clock.now - start) - 1.0) < 1e-6, "30 frames at 30 fps should take one second in real-time mode"


def test_file_pacer_as_fast_as_possible_never_sleeps() -> None:
    clock = FakeClock()
    pacer = FilePacer(clock=clock, sleep=clock.sleep)
    for index in range(100):
        pacer.admit(index / 30)
    assert clock.now == 100.0
