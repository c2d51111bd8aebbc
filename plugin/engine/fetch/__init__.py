"""Finding and fetching data: ASF search and download, SAR/DSWE pairing."""
