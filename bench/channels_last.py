"""Training-step speed with contiguous against channels_last tensors: `python -m bench.channels_last`.

    python -m bench.channels_last [--seconds 20] [--batch-size 256] [--widths 48 96 192] [--device cpu]

One step is forward, loss (classes and digit head), backward and AdamW on a random batch of 28x28
images (no augmentation: this times the memory layout, not the data path). The two layouts take turns
in short rounds, so a machine that gets busier or quieter during the run affects both alike.
Prints images/s for each layout and the speed-up; train.train uses channels_last on every device.
"""

import argparse
import sys
import time

import torch
import torch.nn.functional as F

from emnist_core.labels import NUM_CLASSES, NUM_DIGITS
from emnist_core.model import EmnistCNN, ModelConfig, count_parameters
from train.evaluate import machine_description, select_device

LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
ROUNDS = 4  # turns per layout
WARMUP_STEPS = 3


def make_step(config: ModelConfig, layout, device: torch.device, batch_size: int):
    """A closure running one training step in `layout`; returns it after the warm-up steps."""
    torch.manual_seed(0)
    model = EmnistCNN(config).to(device).to(memory_format=layout).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    x = torch.randn(batch_size, 1, 28, 28, device=device).contiguous(memory_format=layout)
    y = torch.randint(0, NUM_CLASSES, (batch_size,), device=device)

    def step():
        logits, digit_logit = model(x)
        loss = F.cross_entropy(logits, y) + 0.2 * F.binary_cross_entropy_with_logits(
            digit_logit, (y < NUM_DIGITS).float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(WARMUP_STEPS):
        step()
    return step


def images_per_second(steps: dict, batch_size: int, seconds: float, device: torch.device) -> dict:
    counted = {name: [0, 0.0] for name in steps}  # images, seconds
    for _ in range(ROUNDS):
        for name, step in steps.items():
            started = time.perf_counter()
            while time.perf_counter() - started < seconds / ROUNDS:
                step()
                counted[name][0] += batch_size
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            counted[name][1] += time.perf_counter() - started
    return {name: n / s for name, (n, s) in counted.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--seconds", type=float, default=20.0, help="timed training per layout")
    p.add_argument("--batch-size", type=int, default=256, help="images per step")
    p.add_argument("--widths", type=int, nargs="+", default=list(ModelConfig().stage_widths),
                   help="channels per stage (48 96 192: the wider net)")
    p.add_argument("--device", default="cpu", help="auto, cpu or cuda")
    args = p.parse_args(argv)
    device = select_device(args.device)
    config = ModelConfig(stage_widths=tuple(args.widths))
    print(f"{machine_description(device)}; net {'/'.join(map(str, args.widths))} "
          f"({count_parameters(EmnistCNN(config)):,} parameters), batch {args.batch_size}, "
          f"{args.seconds:g} s per layout in {ROUNDS} turns", flush=True)
    steps = {name: make_step(config, layout, device, args.batch_size) for name, layout in LAYOUTS.items()}
    rates = images_per_second(steps, args.batch_size, args.seconds, device)
    for name, rate in rates.items():
        print(f"  {name:<14}{rate:8.0f} images/s")
    print(f"  channels_last is {rates['channels_last'] / rates['contiguous'] - 1:+.0%} against contiguous")
    return 0


if __name__ == "__main__":
    sys.exit(main())
