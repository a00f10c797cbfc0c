"""Line datasets and the pipeline that batches them; importing this package registers every
dataset builder (synthetic handwriting in ``synth/``, real formats in ``formats/``)."""

from inkbench.data import datasets as _datasets  # noqa: F401
from inkbench.data.formats import digits as _digits  # noqa: F401
from inkbench.data.formats import emnist as _emnist  # noqa: F401
from inkbench.data.formats import emnist_lines as _emnist_lines  # noqa: F401
from inkbench.data.formats import folder as _folder  # noqa: F401
from inkbench.data.formats import iam as _iam  # noqa: F401
from inkbench.data.synth import synthetic as _synthetic  # noqa: F401
