"""Where a GPU benchmark ran: device, driver, CUDA, torch and NVML versions ('absent' if none).

torch.cuda is asked only when the device is CUDA, so a CPU run never initialises CUDA; NVML is
asked through pynvml, which answers with a reason, never a crash, on a machine without a driver.
"""
import importlib.metadata
import platform
from typing import Any, Dict, List

from deer_ros.bench.models import environment

ABSENT = 'absent'


def nvml_versions(device_index: int = 0) -> Dict[str, Any]:
    """Driver, NVML and CUDA-driver versions and the GPU's memory from NVML, or why not."""
    try:
        version = importlib.metadata.version('nvidia-ml-py')
    except importlib.metadata.PackageNotFoundError:
        version = ABSENT
    out: Dict[str, Any] = dict(pynvml=version, driver=ABSENT, nvml=ABSENT,
                               cuda_driver=ABSENT, nvml_reason='')
    try:
        import pynvml
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        cuda = pynvml.nvmlSystemGetCudaDriverVersion_v2()
        out.update(driver=_text(pynvml.nvmlSystemGetDriverVersion()),
                   nvml=_text(pynvml.nvmlSystemGetNVMLVersion()),
                   cuda_driver=f'{cuda // 1000}.{cuda % 1000 // 10}',
                   nvml_gpu=_text(pynvml.nvmlDeviceGetName(handle)),
                   nvml_total_mb=pynvml.nvmlDeviceGetMemoryInfo(handle).total / 2**20)
    except Exception as exc:   # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded, ...
        out['nvml_reason'] = f'NVML unavailable: {type(exc).__name__}: {exc}'
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def supported_precisions(device: str, wanted: List[str]) -> Dict[str, str]:
    """{precision: '' if it runs on this device, else why it is left out}."""
    import torch
    out = {}
    for name in wanted:
        why = ''
        if device.startswith('cuda') and name == 'bf16' and not torch.cuda.is_bf16_supported():
            why = 'this GPU has no bf16'
        elif not device.startswith('cuda') and name == 'fp16' and \
                not torch.amp.is_autocast_available('cpu'):
            why = 'no CPU autocast in this torch'
        out[name] = why
    return out


def gpu_environment(device: str, threads: int, command: str) -> Dict[str, Any]:
    """Everything the report's header says about the machine."""
    import torch
    env = environment(device, threads, command)
    env.update(python=platform.python_version(), platform=platform.platform(),
               torch_cuda=torch.version.cuda or ABSENT, cudnn=ABSENT, gpu_capability=ABSENT,
               gpu_total_mb=None)
    index = 0
    if device.startswith('cuda'):
        dev = torch.device(device)
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        env.update(gpu_capability=f'{props.major}.{props.minor}',
                   gpu_total_mb=props.total_memory / 2**20,
                   cudnn=str(torch.backends.cudnn.version() or ABSENT))
    env.update(nvml_versions(index))
    for package in ('transformers', 'open_clip_torch', 'open-flamingo', 'timm', 'torchvision',
                    'ros-rclpy'):
        try:
            env[f'version_{package}'] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            env[f'version_{package}'] = ABSENT
    return env
