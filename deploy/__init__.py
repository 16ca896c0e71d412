"""Deployment: exported models (SavedModel, ONNX, OpenVINO IR) and the inference backends that run them."""
