"""A drawn line's characters are read again with their own strokes by the stroke model (predict.STROKE_STICKS)."""

import pytest

from emnist_core import predict
from emnist_core.preprocess import prepared
from emnist_core.strokes import strokes_in_box, trajectory

from test_cut_letters import drawn


def test_each_character_reads_as_a_drawing_of_its_own_strokes(predictor):
    if predictor.stroke_model is None:
        pytest.skip("the checkpoint has no stroke model: lines are read by the CNN alone (the next test)")
    drawing = drawn("cat")
    reading = predictor.read_line_strokes(drawing, "any")
    assert len(reading.characters) == 3
    transposed = predictor.checkpoint.input_spec.transposed
    for box, prediction in reading.characters:
        own = strokes_in_box(drawing.strokes, box)
        assert own  # its strokes are inside its box
        probs, _ = predictor.predict_emnist(prepared(prediction.image, transposed).model_input[None], "any",
                                            [trajectory(own)])
        read = predictor.labels[int(probs[0].argmax())]
        if read not in predict.STROKE_STICKS:
            assert prediction.top5[0][0] == read and abs(prediction.top5[0][1] - probs[0].max()) < 1e-6


def test_sticks_keep_the_cnns_reading_and_a_word_is_not_read_again(predictor, monkeypatch):
    drawing = drawn("cat")
    with_strokes = predictor.read_line_strokes(drawing, "any").to_json()
    monkeypatch.setattr(predict, "STROKE_STICKS", "".join(predictor.labels))  # every class a stick: nothing re-read
    alone = predictor.read_line_strokes(drawing, "any").to_json()
    monkeypatch.setattr(predictor, "stroke_model", None)
    assert predictor.read_line_strokes(drawing, "any").to_json() == alone  # as the CNN alone reads it
    if with_strokes != alone:
        assert [c["box"] for c in with_strokes["characters"]] == [c["box"] for c in alone["characters"]]
    def refuse(*args):
        raise AssertionError("read again")
    monkeypatch.setattr(predictor, "stroke_model", object())
    monkeypatch.setattr(predictor, "_with_own_strokes", refuse)
    assert predictor.read_line_strokes(drawing, "word").text.lower() == "cat"  # the word decides: not read again
