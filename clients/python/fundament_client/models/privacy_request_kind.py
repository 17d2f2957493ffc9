from enum import StrEnum


class PrivacyRequestKind(StrEnum):
    ERASURE = "erasure"
    EXPORT = "export"

    def __str__(self) -> str:
        return str(self.value)
