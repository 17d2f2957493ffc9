from enum import StrEnum


class WebhookCreateEventsItem(StrEnum):
    COLLECTION_CREATED = "collection.created"
    COLLECTION_DELETED = "collection.deleted"
    COLLECTION_UPDATED = "collection.updated"
    RECORD_CREATED = "record.created"
    RECORD_DELETED = "record.deleted"
    RECORD_UPDATED = "record.updated"

    def __str__(self) -> str:
        return str(self.value)
