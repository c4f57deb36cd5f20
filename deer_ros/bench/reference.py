"""The per-frame code as it was before the fast path, kept only to compare against.

The production model has one execution path (`ModelRollout`). `ReferenceRollout` runs the same
weights the straightforward way, so `deer-ros bench fastpath` can time both side by side and the
tests can check that the fast path computes the same thing:

- preprocessing: one camera at a time, resized in float (`reference_preprocess`);
- vision: one ViT + perceiver call per camera through `DeerVLA.encode_media`;
- prompt: embedding and ALiBi/causal bias rebuilt every frame;
- attention: explicit softmax everywhere (no SDPA);
- head: `nn.LSTM` through `ExitHead.forward`, two device->host read-backs per candidate.
"""
from typing import Any, Callable, Optional

import numpy as np
import torch

from deer_ros.model.api import Candidate
from deer_ros.model.config import VisionConfig
from deer_ros.model.mosaic import MosaicAttention
from deer_ros.model.rollout import Frame, ModelRollout
from deer_ros.model.vision import pil_resize_crop, resize_crop


def reference_preprocess(image: np.ndarray, cfg: VisionConfig,
                         device: Optional[torch.device] = None,
                         transform: Optional[str] = None) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, S, S) float32, resized in float (no uint8 kernel)."""
    if (transform or cfg.transform) == 'pil':
        image = pil_resize_crop(image, cfg.image_size)
    x = torch.from_numpy(np.array(image)[None]).to(device).permute(0, 3, 1, 2).float()
    x = resize_crop(x, cfg.image_size).float()                # (1, 3, S, S) in 0..255
    mean = torch.tensor(cfg.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, device=x.device).view(1, 3, 1, 1)
    return (x / 255.0 - mean) / std


class ReferenceRollout(ModelRollout):
    """ModelRollout with the pre-fast-path encode() and candidate(); same weights, same API."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for module in self.model.modules():
            if isinstance(module, MosaicAttention):
                module.sdpa = False

    def _encode_images(self, static: np.ndarray, gripper: Optional[np.ndarray],
                       mark: Optional[Callable[[str], None]] = None) -> Frame:
        """Each camera through encode_media on its own; prompt embedded and biased afresh."""
        vcfg = self.config.vision
        with self._autocast():
            static_px, gripper_px = [
                None if image is None else reference_preprocess(image, vcfg, self.device,
                                                                self.transform)
                for image in (static, gripper)]
            if mark is not None:
                mark('preprocess_ms')
            media = self.model.encode_media(static_px, gripper_px)
            embedding = self.model.embed(self._ids)
        self._cameras = 1 if gripper is None else 2
        bias = self.model.lang_encoder.bias(self._ids.shape[1], self.device)
        return Frame(media=media, media_locations=self._ids == self.media_token_id, bias=bias,
                     embedding=embedding)

    @torch.no_grad()
    def candidate(self, frame: Frame, layer: int) -> Candidate:
        """The head as a module (nn.LSTM), pose and gripper read back separately."""
        if not 0 <= layer < frame.layers_done:
            raise ValueError(f'layer {layer} has not been computed ({frame.layers_done} done)')
        head = self.model.extra_exit
        with self._autocast():
            pooled = head.pool(frame.outputs[layer])[:, None]              # (1, 1, d)
            robot = None if frame.robot_state is None else frame.robot_state[:, None]
            pose, logit, state = head(head.fuse(pooled, robot), self.head_state)
        pose_np = pose[0, -1].float().cpu().numpy().astype(np.float32)     # (6,)
        prob = float(torch.sigmoid(logit[0, -1, 0].float()))
        return Candidate(layer=layer, pose=pose_np, gripper_prob=prob, state=state)
