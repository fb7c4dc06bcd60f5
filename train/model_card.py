"""Write a checkpoint's model card (emnist_core.card) to standard output.

    python -m train.model_card > checkpoints/MODEL_CARD.md      # the shipped checkpoint, with its drawings
    python -m train.model_card --checkpoint PATH [--drawings drawing_scores.json | --no-drawings]

Every figure comes from the checkpoint's training record, from the drawing-score JSON written by
`python -m bench.score_drawings --json` (by default the DRAWINGS_FILE beside the checkpoint, where there
is one), or from OFFICIAL_TEST_FILE beside it: the team's one measurement on the held-out test split.
"""

import argparse
import json
import sys
from pathlib import Path

from emnist_core.card import model_card
from emnist_core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint

DRAWINGS_FILE = "drawing_scores.json"  # beside the checkpoint: checkpoints/drawing_scores.json
OFFICIAL_TEST_FILE = "official_test.json"  # beside it: what the team measured on the held-out test split


def drawings_path(checkpoint: Path, given: str | None, none: bool) -> Path | None:
    """--drawings if given; else the DRAWINGS_FILE beside the checkpoint when it exists."""
    if none:
        return None
    if given:
        return Path(given)
    beside = checkpoint.with_name(DRAWINGS_FILE)
    return beside if beside.is_file() else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--drawings", help="JSON from python -m bench.score_drawings --json "
                        f"(default: {DRAWINGS_FILE} beside the checkpoint, if there is one)")
    parser.add_argument("--no-drawings", action="store_true", help="leave the real-drawings section out")
    args = parser.parse_args(argv)
    path = Path(args.checkpoint)
    drawings_file = drawings_path(path, args.drawings, args.no_drawings)
    try:
        drawings = json.loads(drawings_file.read_text()) if drawings_file else None
        official_file = path.with_name(OFFICIAL_TEST_FILE)
        official_test = json.loads(official_file.read_text()) if official_file.is_file() else None
        checkpoint = load_checkpoint(path)
    except (CheckpointError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(model_card(checkpoint, f"Model card: `{path.name}`", path.stat().st_size / 1e6, drawings, official_test),
          end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
