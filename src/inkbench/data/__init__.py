"""Line datasets; importing this package registers every dataset builder."""

from inkbench.data import datasets as _datasets  # noqa: F401
from inkbench.data import folder as _folder  # noqa: F401
from inkbench.data import synthetic as _synthetic  # noqa: F401
