"""Notebook applications: what a notebook runs as a small program (notebook 8's retouching of your own
photos). They import the teaching core and `tools/`; the core imports neither."""
