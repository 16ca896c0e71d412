"""Running a trained model: on PNG slices, and on whole CT volumes (volume in, mask volume out)."""
