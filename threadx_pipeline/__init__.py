"""ThreadX Pipeline: Dagster definitions wiring ``threadx_core`` into partitioned assets."""
