"""Retrieval and graph memory (chapter 11): dense retrieval, HippoRAG, HippoRAG 2, adaptive retrieval."""
