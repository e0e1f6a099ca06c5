"""Evidence packs: writing, verifying and rendering them. No pytest in here."""
