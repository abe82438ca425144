"""Prompting backends (a local Hugging Face model, Claude), each with the same classify/generate/describe calls."""
