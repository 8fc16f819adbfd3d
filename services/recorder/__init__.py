"""The recorder: COCO splits + stored images -> sharded TFRecords in the Model Garden / TF OD API layout."""
