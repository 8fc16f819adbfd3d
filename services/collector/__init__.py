"""The collector: search queries and URL lists -> one clean, licensed, deduplicated URL list."""
