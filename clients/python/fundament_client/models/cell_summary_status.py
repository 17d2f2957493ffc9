from enum import StrEnum


class CellSummaryStatus(StrEnum):
    AVAILABLE = "available"
    UNREACHABLE = "unreachable"

    def __str__(self) -> str:
        return str(self.value)
