"""mlserve's serving benchmark: `python bench/run.py [--quick]` (see bench/README.md)."""
