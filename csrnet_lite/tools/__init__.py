"""Tooling a student never needs to open: the command line, photo retouching on files, the FiveK
download and raw developer, 16-bit and .cube file formats, and the book builder.

The teaching core (`csrnet_lite/*.py`) never imports from here, except `image.py`, which reads and
writes 16-bit files through `tools.formats`.
"""
