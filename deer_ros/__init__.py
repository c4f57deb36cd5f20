"""deer_ros: dynamic-depth Vision-Language-Action inference for ROS 2.

The generated message modules (deer_ros.msg) may live in another directory than this source tree
(a colcon install space next to an editable install); extending __path__ lets both halves import
as one package.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = '0.1.0'
