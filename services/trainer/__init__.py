"""The trainer: fine-tune a COCO-pretrained Model Garden detector, evaluate, export, show."""
