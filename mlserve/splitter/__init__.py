"""The traffic splitter: an HTTP proxy that spreads one endpoint's requests over APIs by weight.

`python -m mlserve.splitter --routes FILE --port P` (see server.py). Locally the deploy writes
FILE and runs the splitter under the same supervisor as an API; on Kubernetes it runs from the
project image with the routing table in an environment variable.
"""
