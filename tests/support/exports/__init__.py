"""Export writers: a `GtDataset` rendered in each labelling tool's documented export shape."""
