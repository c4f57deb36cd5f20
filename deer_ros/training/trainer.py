"""DeeR's multi-exit training loop: joint phase, then an optional head-only ("post") phase.

Every random draw of step s (batch order, shifts, exit sampling, dropout) is seeded from
(seed, s), so a run is deterministic on one device and a resumed run continues identically.
"""
import pathlib
from typing import Any, Callable, Dict, List, Optional

import torch

from deer_ros.model.checkpoint import save_checkpoint
from deer_ros.model.flamingo import DeerVLA
from deer_ros.training.config import TrainConfig
from deer_ros.training.data import WindowDataset
from deer_ros.training.forward import FrameInputs, exit_features, media_token, run_layers
from deer_ros.training.losses import multi_exit_losses
from deer_ros.training.optim import (apply_lr, param_groups, set_trainable, step_seeds,
                                     warmup_factor)
from deer_ros.training.sampling import Shard, StepBatchSampler
from deer_ros.training.state import TrainState, load_optimizer, save_state, step_dir


class MultiExitTrainer:
    """Trains a DeerVLA's backbone and shared exit head on a WindowDataset."""

    def __init__(self, model: DeerVLA, tokenizer: Any, data: WindowDataset, cfg: TrainConfig,
                 device: str = 'cpu', state: Optional[TrainState] = None,
                 shard: Shard = Shard()):
        self.model = model.to(device)
        self.tokenizer = tokenizer
        self.data = data
        self.cfg = cfg
        self.device = torch.device(device)
        self.state = state or TrainState()
        self.media_id = media_token(tokenizer)
        self.sampler = StepBatchSampler(len(data), cfg.batch_size, cfg.seed, shard)
        set_trainable(model, cfg.freeze)
        self.optimizer = self._make_optimizer(cfg.phase(self.state.step))
        self._phase = cfg.phase(self.state.step)

    def _make_optimizer(self, phase: str) -> torch.optim.Optimizer:
        m, cfg = self.model, self.cfg
        if phase == 'head':
            groups = param_groups({'head': m.extra_exit}, {'head': cfg.head_lr},
                                  cfg.weight_decay)
        else:
            backbone = torch.nn.ModuleDict({'vision_encoder': m.vision_encoder,
                                            'perceiver': m.perceiver,
                                            'lang_encoder': m.lang_encoder})
            groups = param_groups({'backbone': backbone, 'head': m.extra_exit},
                                  {'backbone': cfg.lr, 'head': cfg.lr * cfg.head_lr_scale},
                                  cfg.weight_decay)
        return torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8)

    def resume_optimizer(self, ckpt_dir: pathlib.Path) -> bool:
        """Load the optimiser saved with a training checkpoint (False: none to load).

        At the first head-only step the saved optimiser is the joint phase's one; phase 2
        starts a fresh optimiser by design, so nothing is loaded.
        """
        if self.state.step == self.cfg.joint_steps and self.cfg.head_steps > 0:
            return False
        return load_optimizer(ckpt_dir, self.optimizer)

    def train_step(self) -> Dict[str, float]:
        """One optimisation step at self.state.step; returns its losses and lr."""
        cfg, step = self.cfg, self.state.step
        phase = cfg.phase(step)
        if phase != self._phase:                       # joint -> head: fresh optimiser
            self.optimizer = self._make_optimizer(phase)
            self._phase = phase
        torch_seed, data_seed = step_seeds(cfg.seed, step)
        torch.manual_seed(torch_seed)
        gen = torch.Generator().manual_seed(data_seed)
        batch = self.data.batch(self.sampler.indices(step))
        batch = batch.to(self.device)
        self.model.train()
        in_phase = step if phase == 'joint' else step - cfg.joint_steps
        lr = apply_lr(self.optimizer, warmup_factor(in_phase, cfg.warmup_steps))
        with torch.set_grad_enabled(phase == 'joint'):
            inputs = FrameInputs(self.model, batch, self.media_id, cfg.shift_pad, gen,
                                 vision_grad=cfg.freeze == 'none')
            features = exit_features(self.model, run_layers(self.model, inputs), inputs)
        losses = multi_exit_losses(self.model.extra_exit, features, batch.actions,
                                   cfg.gripper_weight, gen, batch.state)
        total = torch.stack(list(losses.values())).sum()
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        params = [p for g in self.optimizer.param_groups for p in g['params']]
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        self.optimizer.step()
        self.state.step += 1
        out = {k: float(v.detach()) for k, v in losses.items()}
        out.update(total=float(total.detach()), lr=lr)
        return out

    def save(self, run_dir: pathlib.Path, metadata: Optional[Dict[str, Any]] = None
             ) -> pathlib.Path:
        """Model checkpoint (our format) + training state at the current step."""
        out = step_dir(run_dir, self.state.step)
        meta = {'trained_steps': self.state.step, 'train_config': self.cfg.to_dict()}
        meta.update(metadata or {})
        save_checkpoint(str(out), self.model, self.tokenizer, metadata=meta)
        save_state(out, self.state, self.optimizer)
        return out

    def fit(self, run_dir: pathlib.Path, progress: bool = True,
            on_save: Optional[Callable[[pathlib.Path], None]] = None,
            metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, float]]:
        """Train to cfg.total_steps, logging and checkpointing; returns the loss history."""
        from tqdm import tqdm
        cfg = self.cfg
        window: List[Dict[str, float]] = []
        bar = tqdm(total=cfg.total_steps, initial=self.state.step, unit='step',
                   desc='train', disable=not progress)
        while self.state.step < cfg.total_steps:
            losses = self.train_step()
            window.append(losses)
            bar.update(1)
            step = self.state.step
            if step % cfg.log_every == 0 or step == cfg.total_steps:
                row = {k: sum(w[k] for w in window) / len(window) for k in window[0]}
                row['step'] = step
                self.state.history.append(row)
                window = []
                bar.set_postfix(loss=f'{row["total"]:.4f}', phase=cfg.phase(step - 1))
            boundary = step == cfg.joint_steps and cfg.head_steps > 0
            if step % cfg.save_every == 0 or step == cfg.total_steps or boundary:
                if on_save is not None:               # e.g. update metadata, plot
                    on_save(step_dir(run_dir, step))
                self.save(run_dir, metadata)
        bar.close()
        return self.state.history
