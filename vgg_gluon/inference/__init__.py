"""What uses a trained network.

- ``confusion``: accuracy per class and the confusion matrix (``evaluate``)
- ``images``: any image file to a Fashion-MNIST-like input; top-k (``predict``)
- ``multiscale``: the paper's dense, multi-crop, multi-scale evaluation (``testtime``)
- ``formats``: MXNet symbol and ONNX files, each checked (``export``)
"""
