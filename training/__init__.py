"""A training run, as train.py runs it: adopt the prepared data's recipe, fit, write the run folder."""
