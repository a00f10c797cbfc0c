"""Image classification data: datasets of labelled images (folders, CSV lists, IDX files,
scikit-learn's digits, rendered characters), the transforms every model shares, and the
DataModule that batches them. Importing ``inkbench.data`` registers the datasets."""
