"""Artifact storage: S3 (MinIO) in the stack, a local folder on a bare machine; one interface."""

from transferline.settings import Settings
from transferline.store.base import ObjectInfo, Store


def open_store(settings: Settings) -> Store:
    """The store the settings name; imports are lazy so the embedded mode never loads boto3."""
    if settings.store == "s3":
        from transferline.store.s3 import S3Store

        return S3Store(settings)
    from transferline.store.filesystem import FilesystemStore

    return FilesystemStore(settings.data_dir / "store" / settings.bucket)


__all__ = ["ObjectInfo", "Store", "open_store"]
