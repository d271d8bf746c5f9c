"""Inference pipelines below the workers: image codec, seeded latents, grids, ONNX Runtime sessions,
translate and upscale. Torch-free: the API may import the codec to check uploads."""
