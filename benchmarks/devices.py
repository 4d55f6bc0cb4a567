"""What a GPU gains on the course's models: training steps per second of a toy LLaVA-1.5 on each
device of this machine (the CPU with one torch thread and with every core; CUDA when present).

    python benchmarks/devices.py            # measure and print
    python benchmarks/devices.py --write    # also record this machine's figures in results/devices.json

One step: a batch of still-image questions (`llava.make_instruct_qa`) through the frozen toy CLIP,
the projector and the toy LM, backward and AdamW on the projector and the LM, as LLaVA's second
stage trains; after warm-up steps, timed over `--steps` steps, at three batch sizes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path

import torch

from minivlm import build, results
from minivlm.llava import make_instruct_qa
from minivlm.stages import Stage, run_stage

RESULTS = Path(__file__).resolve().parents[1] / "results" / "devices.json"


def steps_per_second(device: str, threads: int, batch: int, steps: int, samples) -> float:
    torch.set_num_threads(threads)
    model = build("llava-1.5", device=device)
    stage = Stage(name="bench", train=("vision_tokenizer", "lm"), data="qa", steps=steps, batch_size=batch)
    warm = Stage(name="warm-up", train=stage.train, data="qa", steps=3, batch_size=batch)
    run_stage(model, warm, samples, progress=False)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run_stage(model, stage, samples, progress=False)  # .item() on every step's loss waits for the GPU
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    samples = make_instruct_qa("train", 512)
    cores = os.cpu_count() or 1
    # the GPU first: a run cut short still has its figure
    settings = ([("cuda", cores)] if torch.cuda.is_available() else []) + [("cpu", 1)] + ([("cpu", cores)] if cores > 1 else [])
    runs = []
    for device, threads in settings:
        for batch in (32, 128, 512):
            rate = steps_per_second(device, threads, batch, args.steps, samples)
            name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {threads} torch thread{'s' * (threads > 1)}"
            runs.append({"device": device, "name": name, "torch_threads": threads, "batch": batch,
                         "steps_per_s": round(rate, 2), "samples_per_s": round(rate * batch, 1)})
            print(f"{name:>28} batch {batch:3d}: {rate:6.2f} steps/s, {rate * batch:7.1f} samples/s", flush=True)
    machine = torch.cuda.get_device_name() if torch.cuda.is_available() else f"{cores} CPU cores"
    if args.write:
        data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        host = {k: v for k, v in results.machine().items() if k in ("cpu_cores", "python", "torch", "platform")}
        data[machine] = {"date": datetime.date.today().isoformat(), **host, "steps": args.steps, "runs": runs}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print("written to", RESULTS)


if __name__ == "__main__":
    main()
