"""The converter: labelling-tool exports (Labelbox and others) -> COCO, with a health report and clean splits."""
