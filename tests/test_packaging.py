"""pyproject.toml: what a wheel holds, its three commands, and how an installed copy finds its files.

The wheel is built for real (setuptools, no network: `pip wheel --no-build-isolation --no-deps`) from a
copy of the clone, and read as a zip; installing it is checked by hand (docs/RESULTS.md, Packaging),
since an install pulls the dependencies.
"""

import configparser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from emnist_core import shipped
from emnist_core.checkpoint import DEFAULT_CHECKPOINT
from emnist_core.predict import main as read_main

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SCRIPTS = {"emnist-sketchpad": "demo:main", "emnist-read": "emnist_core.predict:main",
           "emnist-train": "train.train:main"}


def test_the_three_commands_name_the_clones_entry_points():
    assert PYPROJECT["project"]["scripts"] == SCRIPTS


def test_dependencies_are_requirements_txt():
    """One list (Spaces reads requirements.txt), so an install asks for the pinned torch, nothing else."""
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    assert "torch==" in (ROOT / "requirements.txt").read_text()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    # built offline with the setuptools at hand; from 70.1 it makes wheels without the `wheel` package
    pytest.importorskip("setuptools", minversion="70.1", reason="building the wheel offline needs setuptools>=70.1")
    source = tmp_path_factory.mktemp("clone")
    ignore = shutil.ignore_patterns("runs", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".git")
    for name in ("pyproject.toml", "requirements.txt", "README.md", "demo.py", "server.py", "guards.py"):
        shutil.copy(ROOT / name, source / name)
    for name in ("emnist_core", "train", "checkpoints", "web", "examples"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "-q",
                            "-w", str(out), str(source)], capture_output=True, text=True, timeout=300)
    if built.returncode and "No module named pip" in built.stderr:
        pytest.skip("pip is not available to build the wheel")
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("emnist_sketchpad-*.whl")
    with zipfile.ZipFile(path) as zf:
        yield zf


def test_wheel_holds_the_code_the_checkpoint_and_the_pages_files(wheel):
    names = set(wheel.namelist())
    assert {"demo.py", "server.py", "guards.py", "emnist_core/predict.py", "emnist_core/shipped.py", "train/train.py",
            "train/__main__.py"} <= names
    data = shipped.INSTALLED.name
    assert f"{data}/checkpoints/{DEFAULT_CHECKPOINT.name}" in names
    assert f"{data}/web/README.md" in names
    # the browser's reader: its scripts, TensorFlow.js with its licence, and the exported model (issue 29)
    assert {f"{data}/web/reader/worker.js", f"{data}/web/reader/vendor/tfjs-backend-wasm-simd.wasm",
            f"{data}/web/reader/vendor/LICENSE", f"{data}/checkpoints/emnist_bymerge.web.bin",
            f"{data}/checkpoints/emnist_bymerge.web.json", f"{data}/checkpoints/word_ctc.pt",
            f"{data}/checkpoints/word_pen.pt"} <= names
    assert f"{data}/examples/7.png" in names
    # what the wheel ships is the clone's file, byte for byte
    assert wheel.read(f"{data}/checkpoints/{DEFAULT_CHECKPOINT.name}") == DEFAULT_CHECKPOINT.read_bytes()
    assert not any(n.startswith((f"{data}/checkpoints/records", "tests/", "bench/")) for n in names)


def test_wheel_declares_the_three_console_scripts(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    assert dict(parser["console_scripts"]) == SCRIPTS


def installed_layout(tmp_path: Path, *files: str) -> Path:
    """site-packages as an install leaves it: emnist_sketchpad_data/<files>, no clone folders."""
    for relative in files:
        path = tmp_path / shipped.INSTALLED.name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"installed")
    return tmp_path


def test_shipped_file_prefers_the_clone_then_the_installed_copy(tmp_path, monkeypatch):
    site = installed_layout(tmp_path, "checkpoints/model.pt", "web/canvas.js")
    monkeypatch.setattr(shipped, "ROOT", site)
    monkeypatch.setattr(shipped, "INSTALLED", site / shipped.INSTALLED.name)
    assert shipped.shipped_file("web/canvas.js") == site / shipped.INSTALLED.name / "web/canvas.js"
    (site / "web").mkdir()
    (site / "web/canvas.js").write_text("clone")  # a clone's own file wins
    assert shipped.shipped_file("web/canvas.js") == site / "web/canvas.js"
    # neither: the clone's path, so that a message names where the file belongs
    assert shipped.shipped_file("checkpoints/other.pt") == site / "checkpoints/other.pt"


def test_in_the_clone_the_shipped_files_are_the_clones():
    assert DEFAULT_CHECKPOINT == ROOT / "checkpoints" / "emnist_bymerge.pt"
    assert shipped.shipped_file("web/README.md") == ROOT / "web" / "README.md"


def test_demo_finds_a_web_asset_in_the_clone_or_an_installed_copy(tmp_path, monkeypatch):
    demo = pytest.importorskip("demo")
    assert demo.web_asset("README.md") == ROOT / "web" / "README.md"
    site = installed_layout(tmp_path, "web/canvas.css")
    monkeypatch.setattr(shipped, "ROOT", site)
    monkeypatch.setattr(shipped, "INSTALLED", site / shipped.INSTALLED.name)
    assert demo.web_asset("canvas.css").read_bytes() == b"installed"


def test_help_names_the_command_as_typed(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/somewhere/emnist_core/predict.py"])  # python -m emnist_core.predict
    with pytest.raises(SystemExit):
        read_main(["--help"])
    assert capsys.readouterr().out.startswith("usage: python -m emnist_core.predict ")
    monkeypatch.setattr(sys, "argv", ["/venv/bin/emnist-read"])
    with pytest.raises(SystemExit):
        read_main(["--help"])
    assert capsys.readouterr().out.startswith("usage: emnist-read ")


def test_train_help_says_each_default_once(capsys):
    from train.train import get_args_parser
    text = get_args_parser().format_help()
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "".join(text.split()).count("(default:DATA_DIR/class-prior.txt)") == 1  # the help's own words
    assert "(default: 256)" in text  # a real default is still shown
