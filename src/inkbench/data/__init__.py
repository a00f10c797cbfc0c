"""Line datasets; importing this package registers every dataset builder."""

from inkbench.data import datasets as _datasets  # noqa: F401
from inkbench.data import digits as _digits  # noqa: F401
from inkbench.data import emnist as _emnist  # noqa: F401
from inkbench.data import emnist_lines as _emnist_lines  # noqa: F401
from inkbench.data import folder as _folder  # noqa: F401
from inkbench.data import iam as _iam  # noqa: F401
from inkbench.data import synthetic as _synthetic  # noqa: F401
