from enum import StrEnum


class CollectionPatchOnErasure(StrEnum):
    ANONYMIZE = "anonymize"
    DELETE = "delete"

    def __str__(self) -> str:
        return str(self.value)
