"""pip install route (fresh machine). A ROS install builds with colcon + CMakeLists.txt instead."""
from setuptools import find_packages, setup

setup(
    name='deer_ros',
    version='0.1.0',
    description='Early-exit / layer-skipping VLA inference node for ROS 2 (DeeR-VLA, DySL-VLA)',
    license='Apache-2.0',
    packages=find_packages(include=['deer_ros', 'deer_ros.*']),
    package_data={'deer_ros': ['py.typed', 'model/assets/tokenizer/*']},
    python_requires='>=3.10',
    extras_require={'test': ['pytest', 'pytest-timeout', 'flake8', 'pydocstyle', 'ruff']},
    entry_points={
        'console_scripts': [
            'deer-ros = deer_ros.cli:main',
            'deer_node = deer_ros.ros_io.deer_node:main',
            'sim_node = deer_ros.sim.sim_node:main',
            'recorder_node = deer_ros.data.ros_recorder:main',
        ],
    },
)
