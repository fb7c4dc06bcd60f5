"""Write a checkpoint's model card (emnist_core.card) to standard output.

    python -m train.model_card --checkpoint checkpoints/emnist_bymerge.pt \
        [--drawings drawing_scores.json] > checkpoints/MODEL_CARD.md

Every figure comes from the checkpoint's training record, or from the drawing-score JSON written by
`python -m train.score_drawings --json`.
"""

import argparse
import json
import sys
from pathlib import Path

from emnist_core.card import model_card
from emnist_core.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, load_checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--drawings", help="JSON from python -m train.score_drawings --json")
    args = parser.parse_args(argv)
    path = Path(args.checkpoint)
    try:
        drawings = json.loads(Path(args.drawings).read_text()) if args.drawings else None
        checkpoint = load_checkpoint(path)
    except (CheckpointError, OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(model_card(checkpoint, f"Model card: `{path.name}`", path.stat().st_size / 1e6, drawings), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
