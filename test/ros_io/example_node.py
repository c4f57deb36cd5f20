"""deer_node's real executable (main) over the fast example engine, for process-level tests.

`python test/ros_io/example_node.py STEP_DELAY_S --ros-args ...`: the same main(), signal
handling and shutdown order as `deer_node`, with the engine over a BoundedExampleModel that takes
STEP_DELAY_S per frame (so signals land during inference) and starts in well under a second.
"""
import sys

from deer_ros.ros_io.deer_node import main
from ros_io_helpers import example_loader

if __name__ == '__main__':
    delay = float(sys.argv[1])
    sys.exit(main(sys.argv[:1] + sys.argv[2:], loader=example_loader(step_delay_s=delay)))
