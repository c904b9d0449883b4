"""The Gradio chat UI and the HTTP API; filled by the UI issue."""
