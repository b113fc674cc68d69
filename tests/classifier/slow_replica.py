"""A real classifier replica whose model and commit are slow, run as a process: ``python -m tests.classifier.slow_replica``.

The worker is the real one, with its real stages, Redis client and commit;
only the model sleeps ``--model-s`` a batch (and always says happy), and each
commit starts ``--commit-s`` late, so that a replica killed at any moment holds
batches in each of its stages.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emostream.classifier.commit import Classified, Committed, Dropped
from emostream.classifier.runtime import Runtime
from emostream.classifier.worker import ClassifierWorker
from emostream.config import load_config
from emostream.infra.modelcard import ModelCard, load_card


class SleepyRuntime(Runtime):
    """A model that needs ``sleep_s`` for every forward pass and always says happy."""

    format = "sleepy"

    def __init__(self, card: ModelCard, batch_max: int, sleep_s: float) -> None:
        super().__init__(card, batch_max)
        self.sleep_s = sleep_s

    def _run(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(self.sleep_s)
        probabilities = np.zeros((len(batch), len(self.card.classes)), np.float32)
        probabilities[:, 3] = 1.0
        return probabilities


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--consumer", required=True)
    parser.add_argument("--model-s", type=float, default=0.1)
    parser.add_argument("--commit-s", type=float, default=0.1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    config = load_config(args.config)
    card = load_card(config.classifier.model or None)
    worker = ClassifierWorker(config, http_port=-1, consumer=args.consumer, runtime=SleepyRuntime(card, config.classifier.batch_max, args.model_s))
    commit = worker.commit

    def late_commit(classified: Sequence[Classified], dropped: Sequence[Dropped]) -> Committed:
        time.sleep(args.commit_s)
        return commit(classified, dropped)

    worker.commit = late_commit
    worker.install_signal_handlers()
    return worker.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
