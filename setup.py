"""Build the optional C accelerator; everything else lives in setup.cfg.

The extension is optional: where no compiler is present, geventws falls back
to its pure-Python twin (``geventws/_mask.py``) and still works.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("geventws._speedups", ["geventws/_speedups.c"], optional=True),
    ]
)
