from enum import StrEnum


class GatewayRouteMode(StrEnum):
    FUNDAMENT = "fundament"
    LEGACY = "legacy"
    SHADOW = "shadow"

    def __str__(self) -> str:
        return str(self.value)
