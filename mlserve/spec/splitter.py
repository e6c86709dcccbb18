"""`kind: TrafficSplitter`: one endpoint that spreads requests over RealtimeAPIs by weight.

Shape as in Cortex (v0.30):

    - name: classifier
      kind: TrafficSplitter
      networking: {endpoint: /classifier}
      apis:
        - {name: classifier-v1, weight: 90}
        - {name: classifier-v2, weight: 10}
        - {name: classifier-v3, shadow: true}   # gets a copy of every request; answers dropped

A weight on the shadow entry (Cortex's own example writes `shadow: true, weight: 100`) is
accepted and ignored, with an info note: it is outside the sum.

Rules that need the other entries of the file (the named APIs exist and are RealtimeAPIs) live in
`checks.py`.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator

from mlserve.contract.kind import Kind
from mlserve.spec.models import FieldRule, Networking, _Endpointed, _Strict

log = logging.getLogger("mlserve.spec")


class SplitterBackend(_Strict):
    name: str
    # Percent of the client traffic; the non-shadow weights add up to 100. A shadow's is ignored.
    weight: int | None = Field(default=None, ge=0, le=100)
    shadow: bool = False
    _ignored_weight: int | None = PrivateAttr(default=None)  # what a shadow entry said (Cortex's spelling)

    @model_validator(mode="after")
    def _weight(self) -> SplitterBackend:
        if not self.shadow and self.weight is None:
            raise FieldRule("weight", "is required (the percent of requests this api answers)")
        if self.shadow:
            self._ignored_weight = self.weight or None
            self.weight = 0
        return self


class TrafficSplitterSpec(_Endpointed):
    name: str
    kind: Literal[Kind.TRAFFIC_SPLITTER]
    apis: list[SplitterBackend] = Field(min_length=1)
    networking: Networking = Field(default_factory=Networking)

    @model_validator(mode="after")
    def _weights(self) -> TrafficSplitterSpec:
        names = [a.name for a in self.apis]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise FieldRule("apis", f"lists '{repeated[0]}' more than once: list every api once")
        shadows = [a.name for a in self.apis if a.shadow]
        if len(shadows) > 1:
            raise FieldRule("apis", f"has {len(shadows)} shadow apis ({', '.join(shadows)}): at most one is allowed")
        for a in self.apis:
            if a._ignored_weight is not None:
                log.info("traffic splitter '%s': the weight (%s) of shadow api '%s' is ignored: a shadow gets a "
                         "copy of every request", self.name, a._ignored_weight, a.name)
        total = sum(a.weight or 0 for a in self.apis if not a.shadow)
        if total != 100:
            raise FieldRule("apis", f"weights add up to {total}, not 100: the non-shadow weights are "
                                    "percentages of the traffic")
        return self

    @property
    def endpoint(self) -> str:
        return self.networking.endpoint or f"/{self.name}"

    @property
    def primaries(self) -> list[SplitterBackend]:
        return [a for a in self.apis if not a.shadow]

    @property
    def shadow(self) -> SplitterBackend | None:
        return next((a for a in self.apis if a.shadow), None)

