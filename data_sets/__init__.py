"""Data-set kinds: where image/label pairs come from, their classes, scoring regions and normalisation."""
