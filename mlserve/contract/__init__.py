"""The vocabulary every part of mlserve shares: statuses, kinds, progress events, label and metric
names (with the metrics' reader), and environment variable names.

A leaf: it imports nothing of mlserve, so the runtime, the autoscaler, the splitter, the deploy
backends and the CLI can all import it without importing each other. The serving image carries it.
"""
