"""Pretrain a preset's vision encoder + perceiver to localise the task objects, for --init.

Why: trained from scratch with the action loss, the mini presets' vision does not learn where
the button, handle or goal is (docs/training.md, 7th session). RoboFlamingo and DeeR start from
a pretrained CLIP instead; none can be downloaded here, so this makes a small one. Each sample
is a MetaWorld scene right after reset (every other one with the hand start jittered). Its
targets are privileged simulator positions: the object (observation 4:7) and the goal
(observation -3:), as offsets from the task's mean, standardised. A read-out of 4 learned
queries attending to both cameras' perceiver latents (as the LM's cross-attention reads them)
is trained with MSE. Scenes use seeds --seed.. (keep them apart from the evaluation's). In a
language-conditioned task (--suite depth) the goal that counts depends on the instruction, which
the vision encoder never sees: its targets are the object and *every* marker, in colour order
(zero-padded to the largest k), so the image features must say where each colour is. The
output is a checkpoint of the preset (with the state input when --state-from is given) whose
vision encoder and perceiver carry the pretrained weights; everything else is freshly
initialised. Train it with `deer-ros train DATA --init OUT --freeze vision`.

  PYTHONPATH=. .venv/bin/python dev/pretrain_vision.py -o runs/pv --scenes-per-task 2000
      (options: --seed 10000, --steps 4000, --preset mini2, --state-from DATA...,
       --tasks T... or --suite depth instead of the five tasks below)
"""
import argparse
import time
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

TASKS = ['reach-v3', 'button-press-topdown-v3', 'drawer-close-v3', 'drawer-open-v3',
         'window-open-v3']
JITTER_M = (0.1, 0.08, 0.06)


def scene_targets(sim, width: int) -> np.ndarray:
    """Object + goal xyz, or object + every marker's xyz in a language-conditioned scene; padded."""
    markers = sim.markers()
    if len(markers):
        out = np.concatenate([sim.object_and_goal()[:3], markers.reshape(-1)])
    else:
        out = sim.object_and_goal()
    return np.pad(out, (0, width - len(out)))


def render_scenes(tasks: Sequence[str], per_task: int, seed: int, size: int
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """static, gripper (N, S, S, 3) uint8, targets (N, D) (scene_targets), task index (N,)."""
    from deer_ros.sim.tasks import get_task
    from deer_ros.sim.metaworld_sim import MetaWorldSim, SimConfig
    from deer_ros.sim.rollout import ExpertConfig
    sim = MetaWorldSim(SimConfig(static_size=size, gripper_size=size))
    jitter = ExpertConfig(start_jitter_m=JITTER_M)
    width = 3 + 3 * max(2, max(get_task(t).targets for t in tasks))
    static: List[np.ndarray] = []
    gripper: List[np.ndarray] = []
    targets: List[np.ndarray] = []
    task_ids: List[int] = []
    try:
        for index, task in enumerate(tasks):
            start = time.perf_counter()
            for s in range(seed, seed + per_task):
                obs = sim.reset(task, s, hand_offset=jitter.hand_offset(s) if s % 2 else None)
                static.append(obs.static)
                gripper.append(obs.gripper)
                targets.append(scene_targets(sim, width))
                task_ids.append(index)
            print(f'{task}: {per_task} scenes in {time.perf_counter() - start:.0f} s', flush=True)
    finally:
        sim.close()
    return (np.stack(static), np.stack(gripper), np.stack(targets).astype(np.float32),
            np.array(task_ids))


def within_task(targets: np.ndarray, task_ids: np.ndarray) -> np.ndarray:
    """Offsets from each task's mean, divided by their std (floored: constant dims stay 0)."""
    out = targets.copy()
    for t in np.unique(task_ids):
        out[task_ids == t] -= out[task_ids == t].mean(0)
    return out / (out.std(0) + 1e-3)


def r2(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """R^2 per column; NaN where the target does not vary."""
    var = ((target - target.mean(0)) ** 2).sum(0)
    ok = var > 1e-6 * len(target)
    return np.where(ok, 1 - ((pred - target) ** 2).sum(0) / np.where(ok, var, 1.0), np.nan)


def main() -> None:
    """Render, pretrain, write the checkpoint; print held-out R^2 every 250 steps."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('-o', '--output', required=True, help='checkpoint directory to write')
    parser.add_argument('--scenes-per-task', type=int, default=2000)
    parser.add_argument('--seed', type=int, default=10000, help='first scene seed')
    parser.add_argument('--steps', type=int, default=4000, help='batches of 64')
    parser.add_argument('--preset', default='mini2')
    parser.add_argument('--state-from', nargs='*', default=None, metavar='DATA',
                        help='recordings whose state statistics a state-input model gets')
    parser.add_argument('--tasks', nargs='+', default=TASKS, help='default: the five above')
    parser.add_argument('--suite', default=None, help='a registered suite instead of --tasks')
    args = parser.parse_args()
    from deer_ros.sim.tasks import suite_tasks
    tasks = suite_tasks(args.suite) if args.suite else args.tasks
    from deer_ros.model.build import build_model, preset_config
    from deer_ros.model.checkpoint import save_checkpoint
    from deer_ros.model.tokenizer import load_tokenizer
    from deer_ros.training.data import normalize
    from deer_ros.training.runner import with_state_input
    torch.manual_seed(0)
    torch.set_num_threads(1)
    tokenizer = load_tokenizer()
    cfg = preset_config(args.preset, tokenizer)
    if args.state_from:
        cfg = with_state_input(cfg, args.state_from)
    model = build_model(cfg, seed=0)
    vcfg = model.cfg.vision
    static, gripper, targets, task_ids = render_scenes(tasks, args.scenes_per_task, args.seed,
                                                       vcfg.image_size)
    y = within_task(targets, task_ids)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    test, train = order[:len(y) // 10], order[len(y) // 10:]
    width = vcfg.width
    queries = nn.Parameter(torch.randn(1, 4, width) * 0.02)
    attention = nn.MultiheadAttention(width, 2, batch_first=True)
    readout = nn.Sequential(nn.Flatten(), nn.LayerNorm(4 * width), nn.Linear(4 * width, 256),
                            nn.ReLU(), nn.Linear(256, y.shape[1]))
    trained = [model.vision_encoder, model.perceiver, attention, readout]
    params = [queries] + [p for m in trained for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)

    def predict(index: np.ndarray) -> torch.Tensor:
        media = []
        for images in (static, gripper):
            pixels = normalize(torch.from_numpy(images[index]).permute(0, 3, 1, 2), vcfg)
            media.append(model.perceiver(model.vision_encoder(pixels)[:, None, None])[:, 0])
        m = torch.cat(media, 1)
        read, _ = attention(queries.expand(len(m), -1, -1), m, m)
        return readout(read)

    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        index = rng.choice(train, 64)
        loss = F.mse_loss(predict(index), torch.from_numpy(y[index]))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        if step % 250 == 0 or step == args.steps:
            with torch.no_grad():
                pred = torch.cat([predict(test[i:i + 200])
                                  for i in range(0, len(test), 200)]).numpy()
            scores = ' '.join('  -  ' if np.isnan(v) else f'{v:5.2f}' for v in r2(pred, y[test]))
            print(f'step {step}: loss {loss.item():.3f}, held-out R^2 object xyz, goal (or '
                  f'markers) xyz: {scores} ({time.perf_counter() - start:.0f} s)', flush=True)
    save_checkpoint(str(Path(args.output)), model, tokenizer, metadata={'vision_pretraining': {
        'scenes_per_task': args.scenes_per_task, 'seed': args.seed, 'steps': args.steps,
        'tasks': list(tasks)}})
    print(f'wrote {args.output}')


if __name__ == '__main__':
    main()
