"""The export formats the converter reads, by name, and the reader module of each (imported only when used)."""

# Detection tries them in this order; the most specific shapes come first.
READERS = {
    "labelbox-ndjson": "transferline_converter.readers.labelbox_ndjson",
    "labelbox-json": "transferline_converter.readers.labelbox_legacy",
    "coco": "transferline_converter.readers.coco",
    "label-studio": "transferline_converter.readers.label_studio",
    "cvat": "transferline_converter.readers.cvat",
    "voc": "transferline_converter.readers.voc",
    "yolo": "transferline_converter.readers.yolo",
}
FORMATS = ("auto", *READERS)
