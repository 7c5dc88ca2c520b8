"""Container images: the image a build host saved, and the registry it is pushed to."""
