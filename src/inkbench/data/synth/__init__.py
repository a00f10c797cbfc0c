"""Synthetic handwriting: the text corpus, the writers (TrueType and Hershey fonts), the line
renderer and the ``synthetic`` dataset built from them."""
