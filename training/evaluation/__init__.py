"""How good a version is: its figures (run.py for generators, paired.py for image-to-image
versions), the extractor each kind of data calls for, the metrics themselves, and the quality
gate that decides whether `latest` moves."""
