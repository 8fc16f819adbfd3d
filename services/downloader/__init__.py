"""The downloader: URL lists -> validated, content-addressed images with their manifest and one outcome per URL."""
