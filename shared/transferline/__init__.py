"""transferline: from image search to a fine-tuned TensorFlow detector, stage by stage."""
