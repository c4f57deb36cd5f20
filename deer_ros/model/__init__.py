"""The multi-exit VLA: config, modules, segment-wise rollout, checkpoints, cost model.

Import submodules directly; this package imports nothing heavy (api.py stays torch-free).
"""
