"""Presentation of results for people: charts as PNG bytes (:mod:`.plots`) and Markdown or
JSON-ready tables (:mod:`.tables`). Nothing here computes a number that is stored."""
