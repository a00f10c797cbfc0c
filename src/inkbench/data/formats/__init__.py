"""Line datasets read from real files in their distributed formats: a folder with
``labels.tsv``, IAM, EMNIST (and lines composed from it), scikit-learn's handwritten digits."""
