"""ModelRollout: segment-wise execution of DeerVLA for one rollout (deer_ros.model.api).

The policies decide how far to run; this class only executes what it is asked, keeps every
layer output of the current frame, evaluates the shared head without side effects, and moves
layers on and off the device for the memory cap.

About 330 lines: execution, head state, costs and residency all act on the same layers and
committed state, so they stay one class.
"""
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from deer_ros.model.adapters import AdapterRegistry, Block
from deer_ros.model.api import Candidate
from deer_ros.model.config import COMPILE_MODES
from deer_ros.model.flamingo import DeerVLA
from deer_ros.model.flops import head_macs, layer_macs, vision_macs
from deer_ros.model.head import LSTMState
from deer_ros.model.head_step import make_head_step
from deer_ros.model.mosaic import MosaicAttention
from deer_ros.model.tokenizer import MEDIA, prompt
from deer_ros.model.vision import preprocess_batch

# autocast dtype per precision name (weights stay fp32); 'amp' is DeeR's eval: fp16 on CUDA
PRECISIONS = {'fp32': None, 'fp16': torch.float16, 'bf16': torch.bfloat16, 'amp': 'amp'}
DEFAULT_TOKENS = 14     # token count assumed for cost estimates before the first reset()
WARM_UP_INSTRUCTIONS = ('pick up the block',
                        'open the drawer, then push the green button and lift the red block')


def resolve_device(device: Optional[str] = None) -> torch.device:
    """`device` or, when None/'auto', CUDA if available else CPU."""
    if device in (None, 'auto'):
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(device)


@dataclass
class Frame:
    """One observation: media tokens, the prompt embedding and each computed layer output."""

    media: torch.Tensor                  # (1, 1, V, d_v) perceiver tokens, static then gripper
    media_locations: torch.Tensor        # (1, L) bool, True at <image>
    bias: torch.Tensor                   # (H, L, L) ALiBi + causal bias, fp32
    embedding: torch.Tensor              # (1, L, d) token embeddings (input of layer 0)
    outputs: List[torch.Tensor] = field(default_factory=list)   # outputs[i]: layer i, (1, L, d)
    robot_state: Optional[torch.Tensor] = None   # (1, S) proprioception, for heads that take it

    @property
    def layers_done(self) -> int:
        """Number of layers whose output is available (the next layer to run)."""
        return len(self.outputs)


class ModelRollout:
    """Implements deer_ros.model.api.SegmentModel on a DeerVLA (any preset, any device)."""

    def __init__(self, model: DeerVLA, tokenizer: Any, device: Optional[str] = None,
                 precision: str = 'fp32', resident_exit: Optional[int] = None,
                 compile_layers: bool = False, transform: Optional[str] = None,
                 head_step: Optional[str] = None, compile_mode: str = 'default'):
        """One execution path: batched cameras, cached prompt tensors, one read-back per head.

        SDPA off CPU only. The code before these lives in deer_ros.bench.reference, to compare.

        transform: image resize, 'pil' (open_clip's exactly) or 'torch' (faster); None = the
        one the checkpoint was trained with (cfg.vision.transform).

        head_step: the per-frame head, 'exact' (nn.LSTM's own call, DeeR's float order) or
        'fused' (HeadStep, cheaper); None = the checkpoint's (cfg.head.step).

        compile_layers: torch.compile each layer (compile_mode 'default') or each exit segment
        as one CUDA graph ('reduce-overhead'; a run that covers only part of a segment, e.g. one
        with skipped layers in it, runs that part eagerly); check against eager with
        `deer-ros bench gpu` or `deer-ros bench fastpath --compile --compile-mode MODE`.
        """
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {sorted(PRECISIONS)}')
        if compile_mode not in COMPILE_MODES:
            raise ValueError(f'compile_mode must be one of {COMPILE_MODES}, got {compile_mode!r}')
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.config = model.cfg
        self.tokenizer = tokenizer
        self.precision = precision
        self.transform = transform or model.cfg.vision.transform
        self.head_step = head_step or model.cfg.head.step
        self.num_layers = model.cfg.lm.n_layers
        self.exit_layers: Tuple[int, ...] = model.cfg.exit_layers
        self.adapters = AdapterRegistry().to(self.device)
        self.media_token_id = int(tokenizer.convert_tokens_to_ids(MEDIA))
        self._offload = torch.device('cpu') if self.device.type != 'cpu' else torch.device('meta')
        self._host: Dict[int, Dict[str, torch.Tensor]] = {}
        self._resident = len(self.exit_layers) - 1
        self._instruction: Optional[str] = None
        self._ids: Optional[torch.Tensor] = None
        self._state: Optional[LSTMState] = None
        self._head_step = make_head_step(self.model.extra_exit, self.head_step)
        self._terms: Optional[List[torch.Tensor]] = None     # _head_step.terms of the state
        self._cameras = 2
        for module in self.model.modules():     # SDPA measured ~4% slower on CPU at L ~ 10
            if isinstance(module, MosaicAttention):
                module.sdpa = self.device.type != 'cpu'
        self._prompt: Optional[Tuple[Any, ...]] = None   # ids, key, embedding, bias, locations
        self._layer_fns: List[Callable[..., torch.Tensor]] = list(self.model.blocks)
        self._segment_fns: Dict[int, Tuple[int, Callable[..., Tuple[torch.Tensor, ...]]]] = {}
        self.compile_mode = compile_mode if compile_layers else None
        if compile_layers and compile_mode == 'reduce-overhead':     # start -> (stop, graph)
            starts = [0, *(e + 1 for e in self.exit_layers[:-1])]
            for a, b in zip(starts, (e + 1 for e in self.exit_layers)):
                run = _Segment(list(self.model.blocks)[a:b])
                self._segment_fns[a] = (b, torch.compile(run, mode='reduce-overhead'))
        elif compile_layers:    # shapes follow the prompt length: warm_up() settles them
            self._layer_fns = [torch.compile(block) for block in self.model.blocks]
        if resident_exit is not None:
            self.set_resident_exit(resident_exit)

    # -- rollout state -------------------------------------------------------------------
    def reset(self, instruction: str) -> None:
        """Start a new rollout: tokenise the instruction (if new), zero the head state."""
        if instruction != self._instruction:
            ids = self.tokenizer(prompt(instruction, self.tokenizer.eos_token))['input_ids']
            self._ids = torch.tensor([ids], dtype=torch.long, device=self.device)   # (1, L)
            self._instruction = instruction
        self._state = None
        self._terms = None

    @torch.no_grad()
    def warm_up(self, cameras: int = 2,
                instructions: Sequence[str] = WARM_UP_INSTRUCTIONS) -> float:
        """Run one frame per instruction so that lazy work happens now; returns seconds.

        torch.compile, kernel selection and the allocator's first growth would otherwise land
        on the robot's first frames. Two prompt lengths let torch.compile settle on
        length-generic kernels, so a new instruction does not compile again. Afterwards the
        rollout is as built: call reset(instruction) before encode().
        """
        start = time.perf_counter()
        size = self.config.vision.image_size
        image = np.zeros((size, size, 3), np.uint8)
        for text in instructions:
            self.reset(text)
            state = np.zeros(self.state_dim, np.float32) if self.state_dim else None
            frame = self.encode(image, image if cameras > 1 else None, state=state)
            self.run_layers(frame, 0, self.resident_layers)
            self.candidate(frame, self.exit_layers[self._resident])
        self._instruction = self._ids = self._prompt = None
        self._state = self._terms = None
        self.synchronize()
        return time.perf_counter() - start

    @property
    def instruction(self) -> Optional[str]:
        """The current instruction (None before the first reset)."""
        return self._instruction

    @property
    def num_tokens(self) -> int:
        """Prompt length L of the current instruction."""
        return DEFAULT_TOKENS if self._ids is None else int(self._ids.shape[1])

    def _autocast(self) -> Any:
        dtype = PRECISIONS[self.precision]
        if dtype == 'amp':
            dtype = torch.float16 if self.device.type == 'cuda' else None
        return torch.autocast(self.device.type, dtype=dtype or torch.float32,
                              enabled=dtype is not None)

    # -- execution -------------------------------------------------------------------------
    @property
    def state_dim(self) -> int:
        """Robot-state values the head takes (0: images and instruction only, as DeeR)."""
        return int(self.config.head.state_dim)

    @torch.no_grad()
    def encode(self, static: np.ndarray, gripper: Optional[np.ndarray] = None,
               state: Optional[np.ndarray] = None,
               mark: Optional[Callable[[str], None]] = None) -> Frame:
        """Vision encoder + perceiver on (H, W, 3) uint8 RGB images; embeds the prompt.

        state: (state_dim,) robot state of the same instant (api.STATE_CONVENTION); kept
        with the frame for the head, ignored by a model without a state input.
        mark: called with 'preprocess_ms' once the pixels are ready (a benchmark's PhaseTimer
        splits preprocessing from vision + perceiver this way).
        """
        if self._ids is None:
            raise RuntimeError('call reset(instruction) before encode()')
        if self._segment_fns and self.device.type == 'cuda':
            torch.compiler.cudagraph_mark_step_begin()   # last frame's graph outputs may go
        frame = self._encode_images(static, gripper, mark)
        if state is not None and self.state_dim:
            values = np.asarray(state, dtype=np.float32).reshape(-1)
            if values.shape != (self.state_dim,) or not np.all(np.isfinite(values)):
                raise ValueError(f'robot state must be {self.state_dim} finite values, '
                                 f'got {values.shape}')
            frame.robot_state = torch.from_numpy(values)[None].to(self.device)   # (1, S)
        return frame

    def _encode_images(self, static: np.ndarray, gripper: Optional[np.ndarray],
                       mark: Optional[Callable[[str], None]] = None) -> Frame:
        """Both cameras in one vision + perceiver call; the prompt tensors are cached."""
        images = [static] if gripper is None else [static, gripper]
        with self._autocast():
            pixels = preprocess_batch(images, self.config.vision, self.device,
                                      transform=self.transform)                  # (C, 3, S, S)
            if mark is not None:
                mark('preprocess_ms')
            tokens = self.model.vision_encoder(pixels)                           # (C, P, d_v)
            latents = self.model.perceiver(tokens[:, None, None])                # (C, 1, n, d_v)
        c, _, n, dim = latents.shape
        media = latents.transpose(0, 1).reshape(1, 1, c * n, dim)    # static tokens first
        self._cameras = c
        embedding, bias, locations = self._prompt_tensors()
        return Frame(media=media, media_locations=locations, bias=bias, embedding=embedding)

    def _prompt_tensors(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embedding, bias and media locations of the prompt, recomputed only when they change."""
        wte = self.model.lang_encoder.transformer.wte.weight
        key = (wte.data_ptr(), wte._version, self.precision)     # weights or autocast changed
        if self._prompt is None or self._prompt[0] is not self._ids or self._prompt[1] != key:
            with self._autocast():
                embedding = self.model.embed(self._ids)
            bias = self.model.lang_encoder.bias(self._ids.shape[1], self.device)
            self._prompt = (self._ids, key, embedding, bias, self._ids == self.media_token_id)
        return self._prompt[2], self._prompt[3], self._prompt[4]

    @torch.no_grad()
    def run_layers(self, frame: Frame, start: int, stop: int,
                   skip: Sequence[Block] = ()) -> None:
        """Run layers [start, stop) on the output of layer start-1 (the embedding if 0).

        A skipped block [a, b) is replaced by its registered adapter (identity when none);
        layers a..b-1 then all output the adapter's output.
        """
        if not 0 <= start <= frame.layers_done:
            raise ValueError(f'start {start} but only {frame.layers_done} layers are done')
        blocks = self._check_skip(start, stop, skip)
        del frame.outputs[start:]
        x = frame.outputs[-1] if start else frame.embedding
        i = start
        with self._autocast():
            while i < stop:
                if i in blocks:
                    end = blocks[i]
                    adapter = self.adapters.get((i, end))
                    x = adapter(x) if adapter is not None else x
                    frame.outputs.extend([x] * (end - i))
                    i = end
                    continue
                segment = self._segment_fns.get(i)
                if segment is not None and segment[0] <= stop and \
                        not any(i <= a < segment[0] for a in blocks):
                    outs = segment[1](x, frame.media, frame.media_locations, frame.bias)
                    frame.outputs.extend(outs)
                    x, i = outs[-1], segment[0]
                    continue
                x = self._layer_fns[i](x, frame.media, frame.media_locations, frame.bias)
                frame.outputs.append(x)
                i += 1

    def _check_skip(self, start: int, stop: int, skip: Sequence[Block]) -> Dict[int, int]:
        if not start < stop <= self.num_layers:
            raise ValueError(f'invalid layer range [{start}, {stop}) for {self.num_layers}')
        blocks: Dict[int, int] = {}
        last = start
        for a, b in sorted((int(a), int(b)) for a, b in skip):
            if not (last <= a < b <= stop):
                raise ValueError(f'skipped block [{a}, {b}) overlaps or leaves [{start}, {stop})')
            blocks[a] = b
            last = b
        ran = [i for i in range(start, stop) if not any(a <= i < b for a, b in blocks.items())]
        if ran and ran[-1] >= self.resident_layers:
            raise RuntimeError(f'layer {ran[-1]} is not resident (cap: exit {self._resident}, '
                               f'{self.resident_layers} layers); call set_resident_exit first')
        return blocks

    @torch.no_grad()
    def candidate(self, frame: Frame, layer: int) -> Candidate:
        """Evaluate the shared head on layer `layer`'s output from the committed state.

        Through HeadStep (the recurrent terms shared by every exit) and one read-back.
        """
        if not 0 <= layer < frame.layers_done:
            raise ValueError(f'layer {layer} has not been computed ({frame.layers_done} done)')
        head = self.model.extra_exit
        with self._autocast():
            if self._terms is None:         # once per committed state, shared by every exit
                self._terms = self._head_step.terms(self._state)
            pooled = head.fuse(head.pool(frame.outputs[layer]), frame.robot_state)   # (1, in)
            pose, logit, state = self._head_step(pooled, self._state, self._terms)
        values = torch.cat([pose[0], logit[0, :1]]).float().cpu()         # the decision's sync
        prob = float(torch.sigmoid(values[-1]))
        return Candidate(layer=layer, pose=values[:-1].numpy().astype(np.float32),
                         gripper_prob=prob, state=state)

    def commit(self, candidate: Candidate) -> None:
        """Advance the committed head state with the candidate actually taken.

        A head with history 'frame' keeps the zero state: every frame starts afresh, as in
        its training (HeadConfig.history).
        """
        if candidate.state is None:
            raise ValueError('candidate has no head state to commit')
        if self.config.head.history == 'episode':
            self._state = candidate.state
        self._terms = None

    @property
    def head_state(self) -> Optional[LSTMState]:
        """The committed (h, c), or None at the start of a rollout (zeros)."""
        return self._state

    def register_adapter(self, block: Block, adapter: nn.Module) -> None:
        """Use `adapter` in place of layers [start, end) when that block is skipped."""
        self.adapters.register(block, adapter.to(self.device))

    def adapter_static_layers(self) -> Optional[List[int]]:
        """Layers no registered adapter stands in for (None without adapters).

        That is the static set the adapters were distilled for; the engine uses it by default.
        """
        covered = {i for (a, b), _ in self.adapters.items() for i in range(a, b)}
        if not covered:
            return None
        return [i for i in range(self.num_layers) if i not in covered]

    def adapter_gmacs(self, block: Block) -> float:
        """GMAC of the adapter standing in for `block` (0 for identity) at this prompt."""
        adapter = self.adapters.get(block)
        macs = getattr(adapter, 'macs', None)
        return macs(self.num_tokens) / 1e9 if macs is not None else 0.0

    # -- cost and memory ---------------------------------------------------------------------
    def layer_gmacs(self) -> List[float]:
        """GMAC of each layer for the current instruction's token count."""
        media = self.config.perceiver.num_latents * self._cameras
        return [m / 1e9 for m in layer_macs(self.config, self.num_tokens, media)]

    @property
    def head_gmacs(self) -> float:
        """GMAC of one head evaluation."""
        return head_macs(self.config) / 1e9

    @property
    def vision_gmacs(self) -> float:
        """GMAC of the vision encoder + perceiver for one frame (cameras of the last encode)."""
        return vision_macs(self.config, self._cameras) / 1e9

    def layer_parameter_bytes(self) -> List[int]:
        """Parameter bytes of each LM layer (cross-attention included), wherever it lives."""
        return [sum(p.numel() * p.element_size() for p in block.parameters())
                for block in self.model.blocks]

    def device_parameter_bytes(self) -> int:
        """Parameter bytes currently on the compute device (what the memory cap lowers)."""
        return sum(p.numel() * p.element_size() for p in self.model.parameters()
                   if p.device == self.device) + \
            sum(p.numel() * p.element_size() for p in self.adapters.parameters())

    @property
    def resident_layers(self) -> int:
        """Layers on the device: 0..exit_layers[resident_exit]."""
        return self.exit_layers[self._resident] + 1

    @property
    def resident_exit(self) -> int:
        """Deepest exit index whose layers are on the device (the memory cap)."""
        return self._resident

    def set_resident_exit(self, exit_index: int) -> None:
        """Move layers to / from the device so that exits up to exit_index can run.

        On an accelerator the layers above the cap go to host memory and the allocator's cache
        is emptied, so the driver (NVML) sees the memory returned; on a CPU device they become
        meta tensors and their weights are kept aside (bookkeeping: no RAM is freed).
        """
        if not 0 <= exit_index < len(self.exit_layers):
            raise ValueError(f'exit index {exit_index} outside 0..{len(self.exit_layers) - 1}')
        keep = self.exit_layers[exit_index] + 1
        for i, block in enumerate(self.model.blocks):
            self._place(i, block, on_device=i < keep)
        if self.device.type == 'cuda' and exit_index < self._resident:
            torch.cuda.empty_cache()
        self._resident = exit_index

    def _place(self, i: int, block: nn.Module, on_device: bool) -> None:
        if on_device and i in self._host:
            block.to_empty(device=self.device)
            block.load_state_dict(self._host.pop(i))
        elif on_device:
            block.to(self.device)
        elif self._offload.type == 'meta':
            if i not in self._host:
                self._host[i] = {k: v for k, v in block.state_dict().items()}
                block.to('meta')
        else:
            block.to(self._offload)

    def synchronize(self) -> None:
        """Wait for queued device work (so host timers measure it); a no-op on CPU."""
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)


class _Segment(nn.Module):
    """Layers a..b-1 as one module returning every layer's output (one graph to compile).

    A module, not a closure: torch.compile then shares one compiled graph among segments of
    the same structure (their weights are inputs), instead of recompiling per segment.
    """

    def __init__(self, blocks: List[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: torch.Tensor, media: torch.Tensor, locations: torch.Tensor,
                bias: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs = []
        for block in self.blocks:
            x = block(x, media, locations, bias)
            outs.append(x)
        return tuple(outs)
