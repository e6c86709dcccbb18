"""`kind: TrafficSplitter`: one endpoint that spreads requests over RealtimeAPIs by weight.

Shape as in Cortex (v0.30):

    - name: classifier
      kind: TrafficSplitter
      networking: {endpoint: /classifier}
      apis:
        - {name: classifier-v1, weight: 90}
        - {name: classifier-v2, weight: 10}
        - {name: classifier-v3, shadow: true}   # gets a copy of every request; answers dropped

Rules that need the other entries of the file (the named APIs exist and are RealtimeAPIs) live in
`checks.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlserve.spec.models import FieldRule, Networking, _Endpointed, _Strict


class SplitterBackend(_Strict):
    name: str
    # Percent of the client traffic; the non-shadow weights add up to 100. A shadow API has none.
    weight: int | None = Field(default=None, ge=0, le=100)
    shadow: bool = False

    @model_validator(mode="after")
    def _weight(self) -> SplitterBackend:
        if self.shadow and self.weight not in (None, 0):
            raise FieldRule("weight", f"({self.weight}) must be left out for a shadow api: "
                                      "it gets a copy of every request")
        if not self.shadow and self.weight is None:
            raise FieldRule("weight", "is required (the percent of requests this api answers)")
        if self.shadow:
            self.weight = 0
        return self


class TrafficSplitterSpec(_Endpointed):
    name: str
    kind: Literal["TrafficSplitter"]
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

