"""Image classifiers: torchvision's builders (one family per file) and a small plain CNN, each
wrapped in ``base.ImageClassifier`` so that every family is trained, frozen and fine-tuned
from local weights the same way."""
