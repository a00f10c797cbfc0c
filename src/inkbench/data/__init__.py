"""Datasets and the pipelines that batch them; importing this package registers every dataset
builder (line datasets: synthetic handwriting in ``synth/``, real formats in ``formats/``; image
classification datasets in ``images/``; page datasets of the detection family in ``pages/``)."""

from inkbench.data import datasets as _datasets  # noqa: F401
from inkbench.data.formats import digits as _digits  # noqa: F401
from inkbench.data.formats import emnist as _emnist  # noqa: F401
from inkbench.data.formats import emnist_lines as _emnist_lines  # noqa: F401
from inkbench.data.formats import folder as _folder  # noqa: F401
from inkbench.data.formats import iam as _iam  # noqa: F401
from inkbench.data.images import digits as _digit_images  # noqa: F401
from inkbench.data.images import fashion_mnist as _fashion_mnist  # noqa: F401
from inkbench.data.images import image_folder as _image_folder  # noqa: F401
from inkbench.data.images import labels_csv as _labels_csv  # noqa: F401
from inkbench.data.images import synthetic_chars as _synthetic_chars  # noqa: F401
from inkbench.data.pages import synthetic as _synthetic_pages  # noqa: F401
from inkbench.data.synth import synthetic as _synthetic  # noqa: F401
