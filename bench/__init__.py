"""GANForge benchmarks: `python -m bench` measures raw runtimes, the service over HTTP and the
trainer side by side in one run, and writes bench/results/report.json and report.md."""
