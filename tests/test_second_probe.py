"""The second hostile probe (issue 21): inputs that were mishandled, one group per section. Each test
fails without its fix; bench/robustness.py measures the memory, time and storage ones."""

import numpy as np
import pytest
import torch

import demo
from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.inference import readings
from emnist_core.predict import Predictor

from conftest import shared_path


@pytest.fixture(scope="module")
def shipped() -> Predictor:
    return Predictor(DEFAULT_CHECKPOINT)


# ---- 1. the reading, the Label's headline and every top-k agree ----------------------------------------

def test_reading_is_first_and_most_probable_everywhere_on_real_images(shipped):
    """On 3,000 validation images of the pool (about 2.7% read a class that is not the arg-max under
    the shipped "sum" rule), top5[0] is the rule's reading, and the Label's dict, /read_line's top-3
    and the CLI's top-5 all lead with it."""
    from train.evaluate import checkpoint_split
    data_dir = shared_path("emnist-bymerge-offline")
    images, _, _ = checkpoint_split(shipped.checkpoint, DEFAULT_CHECKPOINT, data_dir, "val", sample=3000)
    q, p_digit = (torch.from_numpy(a) for a in shipped.predict_emnist(images))
    expected = [shipped.labels[i] for i in readings(q, p_digit)]
    predictions = shipped.classify(list(images), [image.T for image in images])
    not_argmax = sum(shipped.labels[int(i)] != e for i, e in zip(q.argmax(1), expected))
    assert not_argmax > 0, "no image where the rule's reading is not the arg-max: nothing tested"
    for prediction, reading in zip(predictions, expected):
        label = dict(prediction.top5)
        assert prediction.top5[0][0] == reading and max(label, key=label.get) == reading
        assert [p for _, p in prediction.top5] == sorted((p for _, p in prediction.top5), reverse=True)
        assert demo.describe(prediction).startswith(f"## Reads as **{reading}**")
