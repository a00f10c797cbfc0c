"""Pages with their text boxes: the data of the detection family (``det``)."""
