"""Python distributions: reading a wheel's or sdist's own metadata, and a package index.

``dists`` reads what a distribution says it is (bounded, refusing links and paths that
leave the archive: it comes from a build host); ``simple`` reads an index's PEP 503 page;
``index`` reads that page and uploads with twine, retrying an index that answers 5xx.
"""
