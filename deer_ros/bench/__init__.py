"""Benchmarks of deer_ros (`deer-ros bench ...`).

Per-exit cost, proportionality, node overhead, behaviour under load and the fast path. Each
benchmark is a function returning a JSON-ready result that its `*_markdown` renders; the CLI
(deer_ros.cli.bench) prints the markdown and writes both.
"""
