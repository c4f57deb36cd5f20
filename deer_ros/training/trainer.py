"""DeeR's multi-exit training loop: joint phase, then an optional head-only ("post") phase.

Every random draw of step s (batch order, shifts, exit sampling, dropout) is seeded from
(seed, s) and made for the global batch, so a run is deterministic on one device, a resumed
run continues identically, and N torchrun processes (DDP, each on its shard of the batch)
train what one process would, within float reduction order (docs/training.md).
"""
import pathlib
import sys
from typing import Any, Callable, Dict, List, Optional

import torch

from deer_ros.model.checkpoint import save_checkpoint
from deer_ros.model.flamingo import DeerVLA
from deer_ros.training.config import TrainConfig
from deer_ros.training.data import WindowDataset
from deer_ros.training.distributed import Context, barrier, mean_over_ranks, sync_batch_norm
from deer_ros.training.forward import media_token
from deer_ros.training.loader import StepBatches
from deer_ros.training.objective import MultiExitObjective
from deer_ros.training.optim import (apply_lr, param_groups, set_trainable, step_seeds,
                                     warmup_factor)
from deer_ros.training.precision import autocast, grad_scaler, keep_frozen_in
from deer_ros.training.sampling import Shard, StepBatchSampler
from deer_ros.training.state import TrainState, load_optimizer, save_state, step_dir


class MultiExitTrainer:
    """Trains a DeerVLA's backbone and shared exit head on a WindowDataset."""

    def __init__(self, model: DeerVLA, tokenizer: Any, data: WindowDataset, cfg: TrainConfig,
                 device: str = 'cpu', state: Optional[TrainState] = None,
                 ctx: Optional[Context] = None):
        """ctx: the torch.distributed context (default: one process on `device`)."""
        self.ctx = ctx or Context(Shard(), torch.device(device), None)
        self.device = self.ctx.device
        self.model = model.to(self.device)
        warning = sync_batch_norm(model, self.ctx)
        if warning and self.ctx.is_main:
            print(f'warning: {warning}', file=sys.stderr)
        self.tokenizer = tokenizer
        self.data = data
        self.cfg = cfg
        self.state = state or TrainState()
        self.media_id = media_token(tokenizer)
        self.sampler = StepBatchSampler(len(data), cfg.batch_size, cfg.seed, self.ctx.shard)
        self.batches = StepBatches(data, self.sampler.indices, cfg.workers)
        set_trainable(model, cfg.freeze)
        keep_frozen_in(model, cfg.precision)
        self.scaler = grad_scaler(self.device, cfg.precision,
                                  self.state.extra.get('grad_scaler'))
        self._phase = cfg.phase(self.state.step)
        self._enter_phase(self._phase)

    def _enter_phase(self, phase: str) -> None:
        """Trainable set, fresh optimiser and (under torchrun) a DDP wrapper for `phase`."""
        m, cfg = self.model, self.cfg
        if phase == 'head':
            m.requires_grad_(False)
            m.extra_exit.requires_grad_(True)
            groups = param_groups({'head': m.extra_exit}, {'head': cfg.head_lr},
                                  cfg.weight_decay)
        else:
            backbone = torch.nn.ModuleDict({'vision_encoder': m.vision_encoder,
                                            'perceiver': m.perceiver,
                                            'lang_encoder': m.lang_encoder})
            groups = param_groups({'backbone': backbone, 'head': m.extra_exit},
                                  {'backbone': cfg.lr, 'head': cfg.lr * cfg.head_lr_scale},
                                  cfg.weight_decay)
        self.optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.999), eps=1e-8)
        self.objective: torch.nn.Module = MultiExitObjective(m, self.media_id, cfg,
                                                             self.ctx.shard)
        if self.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel
            ids = [self.device.index] if self.device.type == 'cuda' else None
            self.objective = DistributedDataParallel(self.objective, device_ids=ids)

    def resume_optimizer(self, ckpt_dir: pathlib.Path) -> bool:
        """Load the optimiser saved with a training checkpoint (False: none to load).

        At the first head-only step the saved optimiser is the joint phase's one; phase 2
        starts a fresh optimiser by design, so nothing is loaded.
        """
        if self.state.step == self.cfg.joint_steps and self.cfg.head_steps > 0:
            return False
        return load_optimizer(ckpt_dir, self.optimizer)

    def train_step(self) -> Dict[str, float]:
        """One optimisation step at self.state.step; returns its losses (global means), lr."""
        cfg, step = self.cfg, self.state.step
        phase = cfg.phase(step)
        if phase != self._phase:                       # joint -> head: fresh optimiser
            self._enter_phase(phase)
            self._phase = phase
        torch_seed, data_seed = step_seeds(cfg.seed, step)
        torch.manual_seed(torch_seed)
        gen = torch.Generator().manual_seed(data_seed)
        batch = self.batches.get(step).to(self.device)
        self.model.train()
        in_phase = step if phase == 'joint' else step - cfg.joint_steps
        lr = apply_lr(self.optimizer, warmup_factor(in_phase, cfg.warmup_steps))
        with autocast(self.device, cfg.precision):
            losses = self.objective(batch, gen, phase == 'joint')
        total = torch.stack(list(losses.values())).sum()
        self._update(total)
        self.state.step += 1
        out = {k: float(v.detach()) for k, v in losses.items()}
        out.update(total=float(total.detach()))
        out = mean_over_ranks(out, self.ctx)
        out.update(lr=lr)
        return out

    def _update(self, total: torch.Tensor) -> None:
        """Backward (DDP averages the ranks' gradients), clip, AdamW step; fp16 scaled."""
        self.optimizer.zero_grad(set_to_none=True)
        params = [p for g in self.optimizer.param_groups for p in g['params']]
        if self.scaler is None:
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
            self.optimizer.step()
            return
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.optimizer)             # clip the true gradient
        torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.scaler.step(self.optimizer)                 # skipped on inf / NaN gradients
        self.scaler.update()

    def save(self, run_dir: pathlib.Path, metadata: Optional[Dict[str, Any]] = None
             ) -> pathlib.Path:
        """Model checkpoint (our format) + training state at the current step.

        Rank 0 writes; every rank returns once it is written.
        """
        out = step_dir(run_dir, self.state.step)
        if self.ctx.is_main:
            self.state.extra.update(world_size=self.ctx.shard.world_size,
                                    precision=self.cfg.precision)
            if self.scaler is not None:
                self.state.extra['grad_scaler'] = self.scaler.state_dict()
            meta = {'trained_steps': self.state.step, 'train_config': self.cfg.to_dict()}
            meta.update(metadata or {})
            save_checkpoint(str(out), self.model, self.tokenizer, metadata=meta)
            save_state(out, self.state, self.optimizer)
        barrier(self.ctx)
        return out

    def fit(self, run_dir: pathlib.Path, progress: bool = True,
            on_save: Optional[Callable[[pathlib.Path], None]] = None,
            metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, float]]:
        """Train to cfg.total_steps, logging and checkpointing; returns the loss history.

        Every rank keeps the same history (losses are averaged over the ranks); only rank 0
        shows progress, calls on_save and writes.
        """
        from tqdm import tqdm
        cfg, main = self.cfg, self.ctx.is_main
        window: List[Dict[str, float]] = []
        bar = tqdm(total=cfg.total_steps, initial=self.state.step, unit='step',
                   desc='train', disable=not (progress and main))
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
                if on_save is not None and main:     # e.g. update metadata, plot
                    on_save(step_dir(run_dir, step))
                self.save(run_dir, metadata)
        bar.close()
        self.batches.close()
        return self.state.history
