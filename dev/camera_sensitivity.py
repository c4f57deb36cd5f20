"""Does a checkpoint's action depend on its cameras? First-frame check on recorded episodes.

Why: at an episode's first frame every scene of a task starts from the same robot state, so
only the images can tell the scenes apart (where the button, the goal, the handle is). A model
that reads its cameras gives first-frame commands that differ across scenes about as much as
the demonstrations' do; a blind one gives one command per instruction and then only follows its
own motion through the robot state. docs/benchmark.md uses this for the shipped mini model.

Per task, over the first frame of up to --episodes episodes, full depth (last exit), the
deployed path (ModelRollout, fresh history):
  label std   spread across scenes of the demonstrations' first xyz command
  model std   the same for the model's command
  vs black    mean |command(true images) - command(black images)|
  vs other    mean |command(true images) - command(the next scene's images)|, same state
  corr        correlation of the model's first x command with the demonstrations' across scenes
              (does it move the right way, not only move)

--stages also prints, per task, where along the model the scene differences fade: the
across-scene std of each stage's first-frame output relative to its mean magnitude (pixels, ViT
tokens, perceiver latents, last exit's pooled hidden state, the head's input). A ratio that
collapses between two stages names the stage that discards the scene. --probe fits a ridge
regression (5-fold cross-validated R^2) from the head's first-frame input to the
demonstrations' first x command: high R^2 with a blind command means the head has the scene
and ignores it.

  PYTHONPATH=. .venv/bin/python dev/camera_sensitivity.py models/mini-metaworld \
      runs/calib-s64 --episodes 20 [--stages] [--probe]
"""
import argparse
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from deer_ros.data.recording import Episode, list_episodes, read_episode
from deer_ros.model.build import rollout_from_checkpoint
from deer_ros.model.vision import preprocess_batch


def first_frame(model, ep: Episode, static: np.ndarray,   # noqa: ANN001 - ModelRollout
                gripper: Optional[np.ndarray]):                # noqa: ANN201 - Frame
    """The model's first step on these images with ep's first state, every layer run."""
    model.reset(ep.instruction)
    state = None if ep.state is None else ep.state[0]
    frame = model.encode(static, gripper, state=state)
    model.run_layers(frame, 0, model.num_layers)
    return frame


def first_command(model, ep: Episode, static: np.ndarray,   # noqa: ANN001 - ModelRollout
                  gripper: Optional[np.ndarray]) -> np.ndarray:
    """The xyz command of the model's first step on these images, with ep's first state."""
    frame = first_frame(model, ep, static, gripper)
    return np.asarray(model.candidate(frame, model.num_layers - 1).action)[:3]


def first_head_input(model, ep: Episode   # noqa: ANN001 - ModelRollout
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """At ep's first frame: the last exit's pooled feature and the head input made of it."""
    frame = first_frame(model, ep, ep.static[0], None if ep.gripper is None else ep.gripper[0])
    head = model.model.extra_exit
    pooled = head.pool(frame.outputs[model.num_layers - 1])
    return pooled, head.fuse(pooled, frame.robot_state)


def episodes_by_task(data: str, episodes: int) -> Dict[str, List[Episode]]:
    """The first `episodes` episodes of each task in the recording."""
    by_task: Dict[str, List[Episode]] = {}
    for path in list_episodes(data):
        ep = read_episode(path)
        if len(by_task.setdefault(ep.task, [])) < episodes:
            by_task[ep.task].append(ep)
    return by_task


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either side does not vary."""
    if a.std() < 1e-9 or b.std() < 1e-9:
        return float('nan')
    return float(np.corrcoef(a, b)[0, 1])


def sensitivity(checkpoint: str, data: str, episodes: int) -> Dict[str, Dict[str, float]]:
    """Task -> the four measures of the module docstring (means over x, y, z)."""
    model = rollout_from_checkpoint(checkpoint, device='cpu')
    by_task = episodes_by_task(data, episodes)
    out = {}
    for task, eps in sorted(by_task.items()):
        if len(eps) < 2:
            continue
        grip = [None if e.gripper is None else e.gripper[0] for e in eps]
        true = np.array([first_command(model, e, e.static[0], g) for e, g in zip(eps, grip)])
        black = np.array([first_command(model, e, np.zeros_like(e.static[0]),
                                        None if g is None else np.zeros_like(g))
                          for e, g in zip(eps, grip)])
        other = np.array([first_command(model, e, eps[(i + 1) % len(eps)].static[0],
                                        grip[(i + 1) % len(eps)])
                          for i, e in enumerate(eps)])
        labels = np.array([e.actions[0, :3] for e in eps])
        out[task] = {'episodes': len(eps), 'label_std': float(labels.std(0).mean()),
                     'model_std': float(true.std(0).mean()),
                     'vs_black': float(np.abs(true - black).mean()),
                     'vs_other': float(np.abs(true - other).mean()),
                     'corr_x': correlation(true[:, 0], labels[:, 0])}
    return out


def relative_spread(rows: List[torch.Tensor]) -> float:
    """Across-scene std of one stage's outputs / their mean magnitude (0: scene-blind)."""
    values = torch.stack([r.detach().float().reshape(-1) for r in rows]).numpy()
    return float(values.std(0).mean() / max(np.abs(values).mean(), 1e-12))


@torch.no_grad()
def stage_spreads(checkpoint: str, data: str, episodes: int) -> Dict[str, Dict[str, float]]:
    """Task -> stage -> relative spread across scenes (static camera for pixels..latents)."""
    model = rollout_from_checkpoint(checkpoint, device='cpu')
    net = model.model
    by_task = episodes_by_task(data, episodes)
    out = {}
    for task, eps in sorted(by_task.items()):
        if len(eps) < 2:
            continue
        stages: Dict[str, List[torch.Tensor]] = {}
        pixels = preprocess_batch([e.static[0] for e in eps], model.config.vision, model.device,
                                  transform=model.transform)
        tokens = net.vision_encoder(pixels)
        stages['pixels'], stages['vit tokens'] = list(pixels), list(tokens)
        stages['latents'] = list(net.perceiver(tokens[:, None, None]))
        for e in eps:
            pooled, head_input = first_head_input(model, e)
            stages.setdefault('pooled', []).append(pooled)
            stages.setdefault('head input', []).append(head_input)
        out[task] = {name: relative_spread(rows) for name, rows in stages.items()}
    return out


@torch.no_grad()
def head_input_probe(checkpoint: str, data: str, episodes: int) -> Dict[str, float]:
    """Task -> cross-validated R^2 of a ridge fit from the first-frame head input to label x."""
    model = rollout_from_checkpoint(checkpoint, device='cpu')
    out = {}
    for task, eps in sorted(episodes_by_task(data, episodes).items()):
        labels = np.array([e.actions[0, 0] for e in eps])
        if len(eps) < 10 or labels.std() < 1e-6:
            continue
        x = np.array([first_head_input(model, e)[1].reshape(-1).numpy() for e in eps])
        pred = np.zeros_like(labels)
        folds = np.arange(len(labels)) % 5
        for k in range(5):
            fit, held = folds != k, folds == k
            mean = x[fit].mean(0)
            centred = x[fit] - mean
            weights = np.linalg.solve(centred.T @ centred + np.eye(x.shape[1]),
                                      centred.T @ (labels[fit] - labels[fit].mean()))
            pred[held] = (x[held] - mean) @ weights + labels[fit].mean()
        out[task] = float(1 - ((pred - labels) ** 2).sum() / ((labels - labels.mean()) ** 2).sum())
    return out


def main() -> None:
    """Print the table; say plainly when the commands do not depend on the scene."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoint')
    parser.add_argument('data', help='a recording (deer-ros record), ideally held-out scenes')
    parser.add_argument('--episodes', type=int, default=20, help='episodes per task')
    parser.add_argument('--stages', action='store_true',
                        help='also print the relative across-scene spread at each stage')
    parser.add_argument('--probe', action='store_true',
                        help='also fit a ridge probe from the head input to the first label x')
    args = parser.parse_args()
    if args.probe:
        for task, score in head_input_probe(args.checkpoint, args.data, args.episodes).items():
            print(f'{task:26s} ridge R^2, head input -> first label x: {score:5.2f}')
    if args.stages:
        spreads = stage_spreads(args.checkpoint, args.data, args.episodes)
        names = list(next(iter(spreads.values())))
        print(f'{"task":26s} ' + ' '.join(f'{n:>10s}' for n in names))
        for task, row in spreads.items():
            print(f'{task:26s} ' + ' '.join(f'{row[n]:10.5f}' for n in names))
    rows = sensitivity(args.checkpoint, args.data, args.episodes)
    print(f'{"task":26s} {"n":>3s} {"label std":>9s} {"model std":>9s} {"vs black":>9s} '
          f'{"vs other":>9s} {"corr x":>7s}')
    for task, r in rows.items():
        print(f'{task:26s} {r["episodes"]:3d} {r["label_std"]:9.4f} {r["model_std"]:9.4f} '
              f'{r["vs_black"]:9.4f} {r["vs_other"]:9.4f} {r["corr_x"]:7.2f}')
    blind = [t for t, r in rows.items() if r['model_std'] < 0.01 * max(r['label_std'], 1e-6)]
    if blind:
        print(f'first-frame commands do not depend on the scene (< 1 % of the labels\' '
              f'spread): {", ".join(blind)}')


if __name__ == '__main__':
    main()
