"""Text preparation: clean-up and sentence segmentation."""
