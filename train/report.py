"""What a run leaves beside its checkpoint: curves, a confusion matrix and a per-class report."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from emnist_core.labels import BYMERGE_CHARS, NUM_CLASSES  # noqa: E402


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(C, C) counts; rows are the true class, columns the predicted one."""
    flat = labels.long() * NUM_CLASSES + predictions.long()
    return torch.bincount(flat, minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, NUM_CLASSES)


def accuracy_curves(history: list[dict]) -> list[tuple[str, list[float]]]:
    """(legend label, values) of the accuracy plot. Without a class prior the validation score is the
    plain validation accuracy: drawn twice, one line would hide the other behind one legend entry."""
    curves = [("train (augmented)", [h["train_accuracy"] for h in history]),
              ("val", [h["val_accuracy"] for h in history])]
    weighted = [h["val_score"] for h in history]
    if weighted != curves[1][1]:
        curves.append(("val, prior-weighted", weighted))
    return curves


def plot_curves(history: list[dict], path: Path) -> None:
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], marker="o")
    ax_loss.set(title="training loss", xlabel="epoch")
    for label, values in accuracy_curves(history):
        ax_acc.plot(epochs, values, marker="o", label=label, linestyle="--" if "weighted" in label else "-")
    ax_acc.set(title="accuracy", xlabel="epoch")
    ax_acc.legend()
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(matrix: torch.Tensor, path: Path) -> None:
    rates = matrix.float() / matrix.sum(1, keepdim=True).clamp(min=1)
    fig, ax = plt.subplots(figsize=(11, 10))
    image = ax.imshow(rates.sqrt().numpy(), cmap="viridis")  # sqrt: small confusions stay visible
    ticks = range(NUM_CLASSES)
    ax.set_xticks(ticks, list(BYMERGE_CHARS), fontsize=7)
    ax.set_yticks(ticks, list(BYMERGE_CHARS), fontsize=7)
    ax.set(xlabel="predicted", ylabel="true", title="validation confusion (row-normalised, sqrt scale)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def per_class_report(matrix: torch.Tensor, top_pairs: int = 15) -> str:
    lines = ["class  n_val  accuracy  most often read as"]
    for i, char in enumerate(BYMERGE_CHARS):
        row = matrix[i].clone()
        n = int(row.sum())
        hits = int(row[i])
        row[i] = 0
        other = int(row.argmax())
        confused = f"{BYMERGE_CHARS[other]} ({int(row[other])})" if row[other] > 0 else "-"
        lines.append(f"{char:>5}  {n:5d}  {hits / max(n, 1):8.4f}  {confused}")
    off = matrix.clone()
    off.fill_diagonal_(0)
    values, flat = off.flatten().topk(top_pairs)
    lines.append("\nmost frequent confusions (true -> predicted: count)")
    for v, f in zip(values.tolist(), flat.tolist()):
        lines.append(f"  {BYMERGE_CHARS[f // NUM_CLASSES]} -> {BYMERGE_CHARS[f % NUM_CLASSES]}: {v}")
    return "\n".join(lines) + "\n"


def write_all(out: Path, history: list[dict], val_readings: torch.Tensor, val_labels: torch.Tensor,
              result: dict) -> None:
    """val_readings: (N,) the class each validation image reads as (inference.readings)."""
    out = Path(out)
    matrix = confusion_matrix(val_readings, val_labels)
    if history:
        plot_curves(history, out / "curves.png")
    plot_confusion(matrix, out / "confusion.png")
    (out / "per_class.txt").write_text(per_class_report(matrix))
