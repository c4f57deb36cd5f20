"""Loss curves (PNG): one line per logged loss name against the optimisation step."""
import pathlib
from typing import Dict, List, Sequence


def plot_losses(history: Sequence[Dict[str, float]], path: str, title: str = 'training loss',
                skip: Sequence[str] = ('step', 'lr', 'total')) -> pathlib.Path:
    """Write `path` from history rows {'step': s, name: value, ...}; returns the path."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names: List[str] = []
    for row in history:
        names += [k for k in row if k not in skip and k not in names]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in names:
        rows = [r for r in history if name in r]
        ax.plot([r['step'] for r in rows], [r[name] for r in rows], label=name, linewidth=1)
    ax.set_xlabel('step')
    ax.set_ylabel('loss')
    ax.set_yscale('log')
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if names:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
