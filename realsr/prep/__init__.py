"""Dataset preparation: sub-images, multi-scale copies, meta_info files and LMDBs (BasicSR formats)."""
