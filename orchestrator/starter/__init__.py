"""``relorch init``: a starting inventory and CI pipeline written into a user's repository."""
