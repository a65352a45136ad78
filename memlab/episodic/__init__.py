"""Episodic memory and order (chapter 10): SORT-lite memories, event boundaries, HCAM."""
