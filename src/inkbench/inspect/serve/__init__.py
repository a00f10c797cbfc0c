"""The live page of ``inkbench inspect serve``: draw or upload an image, augment it with
sliders, and see a run's prediction and a layer's feature maps follow."""
