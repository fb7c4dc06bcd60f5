"""Our default CNN against the course report's 7-conv network, measured on this machine.

    python -m bench.benchmark [--batch-size 256] [--seconds 20] [--device auto] [--json PATH]
                              [--latency-threads N]

For each net: parameters; training throughput in images/s (the real training step of train.train:
augmentation, normalisation, forward, loss, backward, AdamW; channels_last, and bf16 autocast
on CUDA) on random 28x28 images, after a warm-up; the seconds one epoch of the full official training
split (697,932 images) would take at that rate; and the CPU latency of one image through the model
(median and p90 over 200 calls; torch's default threads unless --latency-threads), which is what the
sketchpad feels. Other busy processes on the machine depress every figure: run it on a quiet one.
"""

import argparse
import json
import statistics
import time

import torch

from emnist_core.checkpoint import InputSpec
from emnist_core.labels import NUM_CLASSES
from emnist_core.model import REPORT_7CONV, EmnistCNN, ModelConfig, count_parameters

from train.augment import AugmentConfig
from train.evaluate import machine_description, select_device
from train.train import get_args_parser as training_args_parser
from train.train import make_optimizer, train_step, use_bf16

OFFICIAL_TRAIN_IMAGES = 697_932  # EMNIST ByMerge official training split
NETS = {"default": ModelConfig(), "report-7conv": REPORT_7CONV}
BATCHES_PER_POOL = 5  # one timed pass = this many steps over a pool of random images
LATENCY_CALLS = 200


def training_throughput(config: ModelConfig, device: torch.device, batch_size: int, seconds: float) -> float:
    """Images per second through train.train's own training step, after three warm-up steps."""
    torch.manual_seed(0)
    train_args = training_args_parser().parse_args(["--batch-size", str(batch_size), "--no-progress"])
    model = EmnistCNN(config).to(device).to(memory_format=torch.channels_last)  # as train.train does
    optimizer = make_optimizer(model, train_args, device)
    n = batch_size * BATCHES_PER_POOL
    generator = torch.Generator(device=device).manual_seed(0)
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, device=device, generator=generator)
    labels = torch.randint(0, NUM_CLASSES, (n,), device=device, generator=generator)

    def one_pass(n_steps: int = BATCHES_PER_POOL) -> None:
        for i in range(n_steps):
            batch = slice(i * batch_size, (i + 1) * batch_size)
            loss, _ = train_step(model, optimizer, images[batch], labels[batch], train_args.lr, train_args,
                                 AugmentConfig(), InputSpec(), generator, use_bf16(train_args, device))
        loss.item()  # the GPU catches up

    one_pass(3)  # warm-up steps: allocator, cuDNN autotuning, first-call overheads
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started, seen = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        one_pass()
        seen += n
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return seen / (time.perf_counter() - started)


def cpu_latency_ms(config: ModelConfig, threads: int, calls: int = LATENCY_CALLS) -> tuple[float, float]:
    """(median, p90) milliseconds of one forward pass on one 1x1x28x28 image on the CPU."""
    model = EmnistCNN(config).eval()
    x = torch.randn(1, 1, 28, 28)
    times, default_threads = [], torch.get_num_threads()
    torch.set_num_threads(threads)
    with torch.inference_mode():
        for i in range(calls + 20):
            t0 = time.perf_counter()
            model(x)
            if i >= 20:  # the first calls pay one-off costs
                times.append((time.perf_counter() - t0) * 1000)
    torch.set_num_threads(default_threads)
    return statistics.median(times), statistics.quantiles(times, n=10)[-1]


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--batch-size", type=int, default=256, help="images per training step")
    p.add_argument("--seconds", type=float, default=20.0, help="timed training per net, after warm-up")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (training throughput only)")
    p.add_argument("--latency-threads", type=int, default=0,
                   help="CPU threads for the one-image latency (0: torch's default)")
    p.add_argument("--json", help="also write the results here")
    return p


def main(argv=None) -> int:
    args = get_args_parser().parse_args(argv)
    device = select_device(args.device)
    latency_threads = args.latency_threads or torch.get_num_threads()
    precision = "bf16 autocast, channels_last" if device.type == "cuda" else "fp32, channels_last"
    print(f"training on {machine_description(device)} ({precision}), batch {args.batch_size}, "
          f"{args.seconds:g} s per net; latency on CPU, {latency_threads} threads", flush=True)
    results = {}
    for name, config in NETS.items():
        throughput = training_throughput(config, device, args.batch_size, args.seconds)
        median, p90 = cpu_latency_ms(config, latency_threads)
        results[name] = {"config": config.to_dict(), "parameters": count_parameters(EmnistCNN(config)),
                         "train_images_per_s": throughput,
                         "epoch_seconds_official_train": OFFICIAL_TRAIN_IMAGES / throughput,
                         "cpu_latency_ms_median": median, "cpu_latency_ms_p90": p90,
                         "latency_threads": latency_threads}

    print(f"\n{'net':<14}{'params':>11}{'train img/s':>13}{'s/epoch*':>10}{'1-image ms (median/p90)':>26}")
    for name, r in results.items():
        print(f"{name:<14}{r['parameters']:>11,}{r['train_images_per_s']:>13,.0f}"
              f"{r['epoch_seconds_official_train']:>10,.0f}"
              f"{r['cpu_latency_ms_median']:>17.2f} / {r['cpu_latency_ms_p90']:.2f}")
    print(f"* projected: {OFFICIAL_TRAIN_IMAGES:,} official training images / throughput")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": machine_description(device), "precision": precision,
                       "batch_size": args.batch_size, "seconds": args.seconds, "nets": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
