"""Training: DeeR's multi-exit recipe (`deer-ros train`) and skip-adapter distillation.

Modules: config (dataclass settings), data (recorded episodes as windows), augment, forward
(differentiable batched passes), losses, optim, trainer, state (checkpoints, resume), distill,
blocks, plot, runner (CLI glue), quick_eval (a small in-process closed-loop check).
See docs/training.md.
"""
