"""Test set-up: the repository root is importable (configs/, agents/)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
