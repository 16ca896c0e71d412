"""One directory per training run: where it writes, how it resumes, and loading its model."""
