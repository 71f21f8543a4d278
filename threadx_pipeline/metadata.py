"""Metadata helpers shared by the assets."""

import base64

import dagster as dg


def image(alt: str, png: bytes) -> dg.MetadataValue:
    """A PNG as Markdown metadata (a base64 data URI), which the Dagster UI shows as a picture
    behind "[Show Markdown]". Keep it small: metadata lives in the event log."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")
