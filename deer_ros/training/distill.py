"""Skip-aware two-stage distillation of skip adapters (after DySL-VLA; the details are ours).

The trained model (backbone and head) is frozen; only the adapters of the skippable blocks
train, so the full path is unchanged by construction.
  stage 1  layer-output distillation: adapter_ab(h_{a-1}) imitates h_{b-1}, the output of the
           skipped block [a, b) in the full model (MSE over real tokens, relative to the
           target's mean square so blocks of different scale weigh alike);
  stage 2  action-level distillation: each frame skips each block with probability
           skip_prob; the head on every exit of that skipped path imitates the head on the
           same exit of the full path (Huber on pose, BCE to the full path's gripper
           probability), plus label_weight x the demonstration loss.
DySL's learned skipping controllers are not trained here: our skip decisions are rule-based
(deer_ros.policies), so stage 2 trains the adapters alone.
"""
from typing import Any, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F

from deer_ros.model.adapters import AdapterRegistry, SkipAdapter
from deer_ros.model.flamingo import DeerVLA
from deer_ros.training.config import DistillConfig
from deer_ros.training.data import WindowDataset
from deer_ros.training.forward import (FrameInputs, exit_features, media_token, run_layers,
                                       run_layers_skipping)
from deer_ros.training.losses import action_loss
from deer_ros.training.optim import apply_lr, step_seeds, warmup_factor
from deer_ros.training.sampling import batch_indices

Block = Tuple[int, int]


def relative_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean squared error / masked mean square of the target; (N, L, d), mask (N, L)."""
    m = mask[..., None].to(pred.dtype)
    err = ((pred - target) ** 2 * m).sum()
    scale = (target ** 2 * m).sum().clamp_min(1e-12)
    return err / scale


class SkipDistiller:
    """Trains one SkipAdapter per block against a frozen DeerVLA."""

    def __init__(self, model: DeerVLA, tokenizer: Any, data: WindowDataset,
                 blocks: Sequence[Block], cfg: DistillConfig, device: str = 'cpu'):
        self.model = model.to(device).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.data = data
        self.blocks = list(blocks)
        self.cfg = cfg
        self.device = torch.device(device)
        self.media_id = media_token(tokenizer)
        torch.manual_seed(cfg.seed)
        self.adapters = AdapterRegistry()
        for block in self.blocks:
            self.adapters.register(block, SkipAdapter(model.cfg.lm.d_model, cfg.adapter_rank))
        self.adapters.to(self.device)
        self.step = 0
        self.history: List[Dict[str, float]] = []
        self._optimizer = self._fresh_optimizer()

    def _fresh_optimizer(self) -> torch.optim.Optimizer:
        params = list(self.adapters.parameters())
        return torch.optim.AdamW([{'params': params, 'base_lr': self.cfg.lr}], lr=self.cfg.lr,
                                 weight_decay=0.0)

    def _inputs(self, step: int) -> Tuple[FrameInputs, Any, torch.Generator]:
        torch_seed, data_seed = step_seeds(self.cfg.seed, step)
        torch.manual_seed(torch_seed)
        gen = torch.Generator().manual_seed(data_seed)
        idx = batch_indices(len(self.data), self.cfg.batch_size, self.cfg.seed, step)
        batch = self.data.batch(idx).to(self.device)
        with torch.no_grad():
            inputs = FrameInputs(self.model, batch, self.media_id, self.cfg.shift_pad, gen,
                                 vision_grad=False)
        return inputs, batch, gen

    def stage1_losses(self, inputs: FrameInputs, outputs: Sequence[torch.Tensor]
                      ) -> Dict[str, torch.Tensor]:
        """{'a_b': relative MSE of adapter_ab(h_{a-1}) vs h_{b-1}} for every block."""
        losses = {}
        for a, b in self.blocks:
            x = inputs.embedding if a == 0 else outputs[a - 1]
            pred = self.adapters.get((a, b))(x)
            losses[f'{a}_{b}'] = relative_mse(pred, outputs[b - 1], inputs.token_mask)
        return losses

    def stage2_losses(self, inputs: FrameInputs, batch: Any, gen: torch.Generator
                      ) -> Dict[str, torch.Tensor]:
        """{'match': skipped-vs-full action loss, 'label': demonstration loss}."""
        head, cfg = self.model.extra_exit, self.cfg
        robot_state = None
        if batch.state is not None:
            robot_state = batch.state.repeat(len(self.model.cfg.exit_layers), 1, 1)
        with torch.no_grad():
            full = exit_features(self.model, run_layers(self.model, inputs), inputs)
            t_pose, t_logit, _ = head(head.fuse(full.flatten(0, 1), robot_state))   # (E B, W, .)
        n = inputs.embedding.shape[0]
        skip = torch.rand((n, len(self.blocks)), generator=gen) < cfg.skip_prob
        outputs = run_layers_skipping(self.model, inputs, self.adapters,
                                      skip.to(self.device), self.blocks)
        feats = exit_features(self.model, outputs, inputs)
        pose, logit, _ = head(head.fuse(feats.flatten(0, 1), robot_state))
        huber = F.huber_loss(pose, t_pose, delta=1.0)
        bce = F.binary_cross_entropy_with_logits(logit, torch.sigmoid(t_logit))
        actions = batch.actions.repeat(feats.shape[0], 1, 1)
        return {'match': huber + cfg.gripper_weight * bce,
                'label': action_loss(pose, logit, actions, cfg.gripper_weight)}

    def train_step(self, stage: int) -> Dict[str, float]:
        """One step of stage 1 or 2; returns its losses."""
        cfg = self.cfg
        inputs, batch, gen = self._inputs(self.step)
        in_stage = self.step if stage == 1 else self.step - cfg.stage1_steps
        apply_lr(self._optimizer, warmup_factor(in_stage, cfg.warmup_steps))
        if stage == 1:
            with torch.no_grad():
                outputs = run_layers(self.model, inputs)
            losses = self.stage1_losses(inputs, outputs)
            total = torch.stack(list(losses.values())).mean()
        else:
            losses = self.stage2_losses(inputs, batch, gen)
            total = losses['match'] + cfg.label_weight * losses['label']
        self._optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.adapters.parameters(), cfg.grad_clip)
        self._optimizer.step()
        self.step += 1
        out = {f's{stage}/{k}': float(v.detach()) for k, v in losses.items()}
        out[f's{stage}/total'] = float(total.detach())
        return out

    def fit(self, progress: bool = True) -> List[Dict[str, float]]:
        """Both stages (a fresh optimiser for stage 2); returns the logged history."""
        from tqdm import tqdm
        cfg = self.cfg
        for stage, steps in ((1, cfg.stage1_steps), (2, cfg.stage2_steps)):
            if stage == 2:
                self._optimizer = self._fresh_optimizer()
            window: List[Dict[str, float]] = []
            for _ in tqdm(range(steps), desc=f'distill stage {stage}', unit='step',
                          disable=not progress):
                window.append(self.train_step(stage))
                if len(window) == cfg.log_every:
                    self._log(window)
                    window = []
            if window:
                self._log(window)
        return self.history

    def _log(self, window: List[Dict[str, float]]) -> None:
        row = {k: sum(w[k] for w in window) / len(window) for k in window[0]}
        row['step'] = self.step
        self.history.append(row)

    @torch.no_grad()
    def eval_stage1(self, identity: bool = False, batches: int = 4) -> float:
        """Mean stage-1 loss on fixed held-out draws; identity=True: plain skipping."""
        totals = []
        for s in range(batches):
            inputs, _, _ = self._inputs(10_000_000 + s)
            outputs = run_layers(self.model, inputs)
            for a, b in self.blocks:
                x = inputs.embedding if a == 0 else outputs[a - 1]
                pred = x if identity else self.adapters.get((a, b))(x)
                totals.append(float(relative_mse(pred, outputs[b - 1], inputs.token_mask)))
        return sum(totals) / len(totals)
