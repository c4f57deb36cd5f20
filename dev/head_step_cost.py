"""Cost of the head steps per check (candidate()), 'exact' (nn.LSTM's call) vs 'fused' (HeadStep).

Preset `small` (random weights), CPU, fp32, batch 1: one frame's layers run once, then each
step evaluates the head on every exit of that frame from the same committed state, as a full
frame of the DeeR policy does. Also the whole frame (encode + all layers + every exit's check)
for scale. Then the head alone at deer-3b's size (hidden 1024, 4 layers; no backbone built).
Usage: PYTHONPATH=. .venv/bin/python dev/head_step_cost.py [threads]
"""
import sys
import time

import numpy as np
import torch

from deer_ros.model.build import rollout_from_preset
from deer_ros.model.config import preset
from deer_ros.model.head import ExitHead
from deer_ros.model.head_step import make_head_step


def best_of(fn, repeats: int = 7, inner: int = 50) -> float:
    """Seconds per call: the best of `repeats` means over `inner` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return min(times)


def main(threads: int) -> None:
    torch.set_num_threads(threads)
    image = np.random.default_rng(0).integers(0, 256, (200, 200, 3), np.uint8)
    print(f'| step | per check (us) | checks per frame | frame, every exit checked (ms) |')
    print('|---|---|---|---|')
    for step in ('fused', 'exact'):
        rollout = rollout_from_preset('small', device='cpu', head_step=step)
        rollout.reset('push the red block to the left')
        frame = rollout.encode(image, image)
        rollout.run_layers(frame, 0, rollout.num_layers)
        exits = rollout.exit_layers

        def checks():
            rollout._terms = None                 # a new committed state: terms once a frame
            for layer in exits:
                rollout.candidate(frame, layer)

        def whole():
            f = rollout.encode(image, image)
            rollout.run_layers(f, 0, rollout.num_layers)
            rollout._terms = None
            for layer in exits:
                rollout.candidate(f, layer)

        with torch.no_grad():
            per_check = best_of(checks) / len(exits)
            per_frame = best_of(whole, repeats=5, inner=5)
        print(f'| {step} | {per_check * 1e6:.0f} | {len(exits)} | {per_frame * 1e3:.1f} |')
    cfg = preset('deer-3b')
    head = ExitHead(cfg.head, cfg.lm.d_model).eval()
    pooled = torch.randn(1, cfg.lm.d_model)
    print('\n| step | deer-3b head alone, per check (ms) |\n|---|---|')
    for step in ('fused', 'exact'):
        run = make_head_step(head, step)
        with torch.no_grad():
            state = run(pooled, None, run.terms(None))[2]

            def checks():
                terms = run.terms(state)
                for _ in range(6):
                    run(pooled, state, terms)
            per_check = best_of(checks, repeats=5, inner=3) / 6
        print(f'| {step} | {per_check * 1e3:.1f} |')


if __name__ == '__main__':
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
