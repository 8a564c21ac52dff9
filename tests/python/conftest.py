"""Where the tests find the afx package.

- AFX_TEST_INSTALLED=1 (scripts/python-test, CI): the package must be the one installed from the wheel in
  the test environment, with its own libafx.so; nothing is taken from the source tree (test_package.py
  checks it).
- Otherwise the installed package when there is one, else <repository>/python (a source checkout; the
  library then comes from AFX_LIBRARY or <repository>/build/libafx.so).
"""
import importlib.util
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTALLED = os.environ.get("AFX_TEST_INSTALLED") == "1"

if importlib.util.find_spec("afx") is None:
    if INSTALLED:
        raise RuntimeError("AFX_TEST_INSTALLED=1 but the afx package is not installed in this Python "
                           f"({sys.executable}); install the wheel first (scripts/python-test does)")
    sys.path.insert(0, os.path.join(REPO, "python"))
