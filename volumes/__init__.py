"""CT volumes: NIfTI reading in one orientation, the one resampling convention, slices as network inputs."""
