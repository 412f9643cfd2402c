"""Tooling a student never needs to open: the command line, photo retouching on files, the FiveK
download and raw developer, the .cube file format, and the book builder.

Imports run one way: this package imports the teaching core (`csrnet_lite/*.py`); the core never
imports from here (tests/test_packaging.py checks it).
"""
