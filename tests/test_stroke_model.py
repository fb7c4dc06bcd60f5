"""The stroke model: a drawing's pen path (strokes.trajectory), the checkpoint that carries the model, the
reading that adds it to the CNN's, and `python -m train.strokes` on UNIPEN files the tests write."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from emnist_core.checkpoint import CheckpointError, StrokeReader, load_checkpoint, save_checkpoint
from emnist_core.inference import model_outputs, probabilities, stroke_log_probs, with_strokes
from emnist_core.labels import BYMERGE_CHARS
from emnist_core.model import StrokeConfig, StrokeNet, merged_stroke_nets
from emnist_core.predict import Predictor
from emnist_core.strokes import TRAJECTORY_POINTS, emnist_from_drawing, parse_drawing, trajectory
from train import pen_data, strokes as train_strokes

from conftest import pen_folder
from helpers import checkpoint_or_skip, draw, save_png

SEVEN = [np.array([[100, 100], [300, 100], [180, 320]], np.float32)]
PLUS = [np.array([[200, 80], [200, 320]], np.float32), np.array([[80, 200], [320, 200]], np.float32)]


def test_the_path_is_resampled_evenly_and_kept_in_the_order_written():
    path = trajectory(SEVEN)
    assert path.shape == (6, TRAJECTORY_POINTS) and path.dtype == np.float32
    assert path[4].sum() == 1 and path[5].sum() == 1 and path[4, 0] == 1 and path[5, -1] == 1
    assert np.allclose(path[:2, 0], [-0.5 / 1.1, -0.5]) and path[0].max() <= 0.5 + 1e-6  # centred, long side 1
    steps = np.hypot(*np.diff(path[:2], axis=1))
    assert (np.abs(steps - np.median(steps)) < 1e-5).sum() >= len(steps) - 2  # evenly along it (corners cut)
    speed = np.hypot(path[2, :-1], path[3, :-1])  # the direction, per unit of path
    assert (np.abs(speed - 1) < 1e-5).sum() >= len(speed) - 1 and path[2, -1] == path[3, -1] == 0
    reversed_path = trajectory([SEVEN[0][::-1]])
    assert np.allclose(reversed_path[:2], path[:2, ::-1], atol=1e-6)  # the same ink, written the other way
    assert not np.allclose(reversed_path[2:4], path[2:4])


def test_the_path_does_not_depend_on_where_or_how_large_the_drawing_is():
    moved = [s * 0.25 + np.float32(7) for s in PLUS]
    assert np.allclose(trajectory(PLUS), trajectory(moved), atol=1e-6)
    path = trajectory(PLUS)
    assert path[4].sum() == 2 and path[5].sum() == 2  # each stroke starts and ends once
    assert path[4, 32] == 1  # two strokes of one length: half the points each


def test_dots_many_strokes_and_nothing():
    dot = [np.array([[5.0, 5.0]], np.float32)]
    i_letter = [np.array([[0, 10], [0, 30]], np.float32), np.array([[0, 0]], np.float32)]
    path = trajectory(i_letter)
    assert path[4].sum() == 2 and np.allclose(path[:2, -1], [0, -0.5])  # the dot: one point at its place
    assert np.isfinite(trajectory(dot)).all() and trajectory(dot)[4].sum() == 1
    many = [np.array([[k, 0], [k, 1 + k % 3]], np.float32) for k in range(50)]
    assert trajectory(many)[4].sum() == TRAJECTORY_POINTS // 2  # the 32 longest strokes
    with pytest.raises(ValueError):
        trajectory([])


@pytest.fixture(scope="module")
def with_strokes_checkpoint(tmp_path_factory):
    """The shipped CNN with an untrained stroke model (weight 0.7) beside it."""
    cnn = load_checkpoint(checkpoint_or_skip())
    torch.manual_seed(0)
    net = StrokeNet(StrokeConfig(widths=(8, 16)))
    path = tmp_path_factory.mktemp("strokes") / "both.pt"
    save_checkpoint(replace(cnn, strokes=StrokeReader(net.config, net.state_dict(), 0.7, {"note": "test"})), path)
    return path


def test_a_character_rewritten_keeps_its_ink_and_changes_only_how_it_was_written():
    rng = np.random.default_rng(0)
    long = [np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(100, 108, dtype=np.float32).reshape(4, 2)]
    assert all(a is b or np.array_equal(a, b) for a, b in zip(train_strokes.rewritten(long, rng, 0.0), long))
    counts = set()
    for _ in range(200):
        again = train_strokes.rewritten(long, rng, 0.5)
        points = np.concatenate(again)
        assert len(points) == 14 and {tuple(p) for p in points} == {tuple(p) for p in np.concatenate(long)}
        counts.add(len(again))
    assert counts == {1, 2, 3}  # joined, as written, parted
    always = train_strokes.rewritten(PLUS, np.random.default_rng(1), 1.0)
    assert sum(len(s) for s in always) == 4 and len(always) in (1, 2)


def test_a_warped_character_is_bent_smoothly_and_a_little_and_zero_leaves_it_as_written():
    rng = np.random.default_rng(0)
    line = np.stack([np.linspace(0, 100, 201), np.linspace(0, 200, 201)], 1).astype(np.float32)
    strokes = [line, np.array([[50.0, 20.0]], np.float32)]
    assert pen_data.warped(strokes, rng, 0.0) is strokes
    first = pen_data.warped(strokes, np.random.default_rng(3), 0.05)
    assert all(np.array_equal(a, b) for a, b in zip(first, pen_data.warped(strokes, np.random.default_rng(3), 0.05)))
    moves, strains = [], []
    for _ in range(50):
        bent = pen_data.warped(strokes, rng, 0.05)
        assert [s.shape for s in bent] == [s.shape for s in strokes] and all(s.dtype == np.float32 for s in bent)
        move = bent[0] - line
        moves.append(np.hypot(*move.T))
        strains.append(np.hypot(*np.diff(move, axis=0).T).max() / np.hypot(0.5, 1.0))  # neighbours move alike
    assert max(strains) < 1.5 and np.median(strains) < 0.5  # a bend, not noise
    moves = np.concatenate(moves)
    assert 0.02 * 200 < np.sqrt((moves ** 2).mean()) < 0.12 * 200  # about 0.05 of the height, each axis
    assert moves.max() < 0.3 * 200


def test_the_checkpoint_carries_the_stroke_model(with_strokes_checkpoint, tmp_path):
    loaded = load_checkpoint(with_strokes_checkpoint)
    assert loaded.strokes.weight == 0.7 and loaded.strokes.config.widths == (8, 16)
    assert loaded.strokes.training == {"note": "test"}
    save_checkpoint(replace(loaded, strokes=None), tmp_path / "cnn.pt")  # images only: no section at all
    assert "strokes" not in torch.load(tmp_path / "cnn.pt", weights_only=True)
    assert load_checkpoint(tmp_path / "cnn.pt").strokes is None


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(weight=float("nan")), "weight"),
    (lambda d: d.update(weight=99.0), "weight"),
    (lambda d: d["config"].update(widths=[10 ** 6]), "widths"),
    (lambda d: d["config"].update(num_classes=10), "config"),
    (lambda d: d["state_dict"].update({"head.bias": torch.full((47,), float("inf"))}), "NaN or infinite"),
    (lambda d: d["state_dict"].pop("head.bias"), "do not match"),
    (lambda d: d.pop("weight"), "garbles"),
])
def test_a_garbled_stroke_model_is_refused_naming_the_file(with_strokes_checkpoint, tmp_path, change, message):
    payload = torch.load(with_strokes_checkpoint, weights_only=True)
    change(payload["strokes"])
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match=message) as raised:
        load_checkpoint(bad)
    assert str(bad) in str(raised.value)


def test_a_drawing_is_read_by_both_models_and_an_image_by_the_cnn_alone(with_strokes_checkpoint, tmp_path):
    both, alone = Predictor(with_strokes_checkpoint), Predictor(checkpoint_or_skip())
    drawing = parse_drawing({"width": 400, "height": 400, "brush": 16, "strokes": [s.tolist() for s in SEVEN]})
    image = emnist_from_drawing(drawing).T[None]
    logits, digit_logits = model_outputs(both.model, torch.from_numpy(image), both.checkpoint.input_spec)
    lp = stroke_log_probs(both.stroke_model, torch.from_numpy(trajectory(drawing.strokes)[None]))
    q, p_digit = probabilities(with_strokes(logits, lp, 0.7), digit_logits, both.checkpoint.digit_source)
    read = both.predict(drawing)
    assert read.top5[0][1] == pytest.approx(float(q.max()), abs=1e-6)
    assert read.p_digit == pytest.approx(float(p_digit[0]), abs=1e-6)
    assert read.top5 != alone.predict(drawing).top5  # the stroke model counted
    png = save_png(draw([s / 400 for s in SEVEN]), tmp_path / "seven.png")
    assert both.predict(png).top5 == alone.predict(png).top5  # an image has no strokes: the CNN alone
    mixed = both.predict_many([png, drawing])  # in one batch: each read as it is read alone
    for got, want in ((mixed[0], alone.predict(png)), (mixed[1], read)):
        assert [c for c, _ in got.top5] == [c for c, _ in want.top5]
        assert np.allclose([p for _, p in got.top5], [p for _, p in want.top5], atol=1e-5)


def prior_folder(tmp_path):
    folder = tmp_path / "emnist"
    folder.mkdir()
    folder.joinpath("class-prior.txt").write_text(
        "".join(f"{k} {c} {100 + k} 0.02\n" for k, c in enumerate(BYMERGE_CHARS)))
    return folder


def test_the_cli_trains_chooses_a_weight_and_never_overwrites(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pen_data, "VAL_SITES", ("hold",))
    out = tmp_path / "both.pt"
    argv = ["--checkpoint", str(checkpoint_or_skip()), "--data-dir", str(prior_folder(tmp_path)),
            "--unipen-dir", str(pen_folder(tmp_path)), "--out", str(out), "--epochs", "1", "--workers", "1"]
    assert train_strokes.main(argv) == 0
    saved = load_checkpoint(out)
    record = saved.strokes.training
    assert saved.strokes.weight in train_strokes.WEIGHTS and record["weight"] == saved.strokes.weight
    assert record["train_characters"] == 3 and record["val_characters"] == 2 and record["val_sites"] == ["hold"]
    assert set(record["weights_tried"]) == {str(w) for w in train_strokes.WEIGHTS}
    from emnist_core.card import model_card
    assert not record["weight_given"] and "(chosen on the pen validation sites)" in model_card(saved)
    assert "pen validation sites, with strokes" in capsys.readouterr().out
    from train.record import record_of
    assert record_of(str(out))["strokes"]["training"] == record  # its record in checkpoints/records/ keeps it
    before = out.read_bytes()
    assert train_strokes.main(argv) == 2 and out.read_bytes() == before
    assert "exists" in capsys.readouterr().err
    assert train_strokes.main(argv[:5] + [str(tmp_path)] + argv[6:] + ["--force"]) == 2  # not UNIPEN
    assert out.read_bytes() == before


def test_the_cli_trains_on_validation_sites_when_told_and_then_needs_a_weight(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pen_data, "VAL_SITES", ("hold",))
    out = tmp_path / "all.pt"
    argv = ["--checkpoint", str(checkpoint_or_skip()), "--data-dir", str(prior_folder(tmp_path)),
            "--unipen-dir", str(pen_folder(tmp_path)), "--out", str(out), "--epochs", "1", "--workers", "1",
            "--also-train", "hold"]
    for bad in ([], ["--weight", "-1"], ["--also-train", "elsewhere", "--weight", "1"],
                ["--weight", "1", "--warp", "0.5"]):
        with pytest.raises(SystemExit) as stop:
            train_strokes.main(argv + bad)
        assert stop.value.code == 2 and not out.exists()
    assert "give --weight" in capsys.readouterr().err
    assert train_strokes.main(argv + ["--weight", "1.5"]) == 0
    saved = load_checkpoint(out)
    record = saved.strokes.training
    assert saved.strokes.weight == 1.5 and record["also_trained"] == ["hold"] and record["val_sites"] == []
    assert record["train_characters"] == 5 and record["val_characters"] == 0 and "with_strokes" not in record["figures"]
    from emnist_core.card import model_card
    card = model_card(saved)
    assert "times 1.5 (given)" in card and "and of the validation sites hold" in card and record["weight_given"]


def test_merged_stroke_nets_read_as_the_mean_of_their_members():
    torch.manual_seed(0)
    nets = [StrokeNet(StrokeConfig(widths=w)) for w in [(8, 16, 24), (4, 8, 12), (6, 6, 6)]]
    for net in nets:  # BatchNorm statistics of their own
        net.train()
        for _ in range(3):
            net(torch.randn(16, 6, TRAJECTORY_POINTS))
        net.eval()
    merged = merged_stroke_nets(nets)
    assert merged.config.widths == (18, 30, 42)
    paths = torch.randn(5, 6, TRAJECTORY_POINTS)
    with torch.no_grad():
        assert torch.allclose(merged(paths), torch.stack([n(paths) for n in nets]).mean(0), atol=1e-5)
    with pytest.raises(ValueError, match="cannot be merged"):
        merged_stroke_nets([nets[0], StrokeNet(StrokeConfig(widths=(8, 8)))])


def test_the_cli_merges_stroke_models_and_refuses_a_checkpoint_without_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pen_data, "VAL_SITES", ("hold",))
    common = ["--checkpoint", str(checkpoint_or_skip()), "--data-dir", str(prior_folder(tmp_path)),
              "--unipen-dir", str(pen_folder(tmp_path)), "--epochs", "1", "--workers", "1", "--widths", "8", "16"]
    for seed in (0, 1):
        assert train_strokes.main(common + ["--seed", str(seed), "--out", str(tmp_path / f"m{seed}.pt")]) == 0
    out = tmp_path / "merged.pt"
    members = [str(tmp_path / "m0.pt"), str(tmp_path / "m1.pt")]
    assert train_strokes.main(common + ["--members", *members, "--out", str(out)]) == 0
    saved = load_checkpoint(out)
    assert saved.strokes.config.widths == (16, 32)
    assert [m["checkpoint"] for m in saved.strokes.training["members"]] == members
    assert saved.strokes.training["train_characters"] == 0  # nothing trained
    nets = [load_checkpoint(m).strokes.build_model() for m in members]
    paths = torch.from_numpy(np.stack([trajectory(SEVEN), trajectory(PLUS)]))
    with torch.no_grad():
        assert torch.allclose(saved.strokes.build_model()(paths), (nets[0](paths) + nets[1](paths)) / 2, atol=1e-5)
    capsys.readouterr()
    deeper = tmp_path / "deeper.pt"
    assert train_strokes.main(common[:-2] + ["8", "8", "8", "--out", str(deeper)]) == 0
    assert train_strokes.main(common + ["--members", members[0], str(deeper), "--out", str(tmp_path / "no.pt")]) == 2
    assert "cannot be merged" in capsys.readouterr().err and not (tmp_path / "no.pt").exists()
    plain = tmp_path / "plain.pt"
    save_checkpoint(replace(load_checkpoint(checkpoint_or_skip()), strokes=None), plain)
    assert train_strokes.main(common + ["--members", str(plain), "--out", str(tmp_path / "no.pt")]) == 2
    assert "no stroke model" in capsys.readouterr().err and not (tmp_path / "no.pt").exists()
    monkeypatch.setattr(train_strokes, "MAX_WIDTH", 20)  # 16 + 16 channels side by side: more than it holds
    assert train_strokes.main(common + ["--members", *members, "--out", str(tmp_path / "no.pt")]) == 2
    assert "more than a checkpoint holds" in capsys.readouterr().err and not (tmp_path / "no.pt").exists()
