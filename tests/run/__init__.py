"""Tests of fertk run, the Pipeline API, video IO, tracking and export."""
