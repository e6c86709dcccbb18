"""Names of the labels and annotations mlserve puts on Kubernetes objects.

A module of its own, with no imports, because the in-cluster autoscaler reads them too and the
serving image carries only what the runtime and the autoscaler import.
"""

NAME = "app.kubernetes.io/name"
MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF = "app.kubernetes.io/part-of"  # the project: APIs gone from its cortex.yaml are deleted
COMPONENT = "app.kubernetes.io/component"
SPEC_HASH = "mlserve.dev/spec-hash"
CONFIG_HASH = "mlserve.dev/config-hash"
RUNTIME_HASH = "mlserve.dev/runtime-hash"
TEMPLATE_HASH = "mlserve.dev/template-hash"
SPEC = "mlserve.dev/spec"
# Label of a Deployment scaled by its HPA (environments with `hpa`): mlserve's autoscaler leaves it alone.
SCALED_BY = "mlserve.dev/scaled-by"
MANAGER = "mlserve"
