"""The Flask API."""
