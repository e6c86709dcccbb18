"""The in-cluster autoscaler: Cortex's request-based algorithm (`algorithm`), run by a small
controller per namespace (`controller`) that scrapes each API's replicas and sets their scale."""
