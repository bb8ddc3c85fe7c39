"""concord's benchmark harness (driven by bench/run.sh; see bench/README.md)."""
