"""Prompt templates (system, question answering, condense, refusal); filled by the answers issue."""
