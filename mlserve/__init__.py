"""mlserve: write a Predictor, list it in cortex.yaml, run `mlserve deploy`."""

from mlserve.errors import MlserveError, RequestError

__version__ = "0.1.0"

__all__ = ["MlserveError", "RequestError", "__version__"]
