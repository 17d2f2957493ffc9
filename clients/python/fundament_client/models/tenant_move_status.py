from enum import StrEnum


class TenantMoveStatus(StrEnum):
    CATCHING_UP = "catching_up"
    COPYING = "copying"
    DONE = "done"
    FAILED = "failed"
    PENDING = "pending"
    SWITCHING = "switching"

    def __str__(self) -> str:
        return str(self.value)
