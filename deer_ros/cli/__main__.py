"""`python -m deer_ros.cli` runs the `deer-ros` command."""
import sys

from deer_ros.cli import main

sys.exit(main())
