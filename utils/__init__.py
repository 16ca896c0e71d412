"""Generic helpers with no project knowledge: the one error type for user mistakes (and its one-line report), atomic writes and file listings."""
