"""Offline OpenAI-compatible gateway emulator."""
