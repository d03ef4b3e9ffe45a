"""The corrquant study report (the main job): python -m report."""
