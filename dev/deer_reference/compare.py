"""Compare our CLI's lines with DeeR's, per frame and policy; exit status 1 on any miss.

Criteria (the issue's "done"): exit layers identical, gripper identical, poses within 1e-5
absolute, criterion values within 1e-5 relative. Usage: python compare.py CASE
"""
import json
import pathlib
import sys

POSE_ATOL, VALUE_RTOL = 1e-5, 1e-5


def lines(path: pathlib.Path) -> list:
    """JSON lines of a file."""
    return [json.loads(line) for line in path.read_text().splitlines()]


def compare(case: pathlib.Path) -> bool:
    """Print one row per policy and source; True when every row passes."""
    ok = True
    print('| policy | ours from | frames | DeeR exit layers | exits equal | gripper equal | '
          'max pose diff | max value diff | max value rel diff |')
    print('|---|---|---|---|---|---|---|---|---|')
    for theirs_file in sorted(case.glob('deer_*.jsonl')):
        policy = theirs_file.stem[len('deer_'):]
        theirs = lines(theirs_file)
        for source in ('pth', 'dir'):
            ours = lines(case / f'ours_{policy}_{source}.jsonl')
            exits = [o['exit_layer'] for o in ours] == [t['exit_layer'] for t in theirs]
            grip = [o['action'][6] for o in ours] == [t['action'][6] for t in theirs]
            pose = max(abs(a - b) for o, t in zip(ours, theirs)
                       for a, b in zip(o['action'][:6], t['action'][:6]))
            rel = absolute = 0.0
            for o, t in zip(ours, theirs):
                mine = [c['value'] for c in o['candidates']]
                if len(mine) != len(t['values']):
                    rel = absolute = float('inf')
                for a, b in zip(mine, t['values']):
                    absolute = max(absolute, abs(a - b))
                    rel = max(rel, abs(a - b) / max(abs(b), 1e-12))
            passed = exits and grip and pose <= POSE_ATOL and rel <= VALUE_RTOL
            ok &= passed
            print(f'| {policy} | {source} | {len(ours)} | {[t["exit_layer"] for t in theirs]} | '
                  f'{exits} | {grip} | {pose:.2e} | {absolute:.2e} | {rel:.2e} |')
    return ok


if __name__ == '__main__':
    sys.exit(0 if compare(pathlib.Path(sys.argv[1] if len(sys.argv) > 1
                                       else '/tmp/deer_ref/case')) else 1)
