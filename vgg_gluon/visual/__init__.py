"""What a trained network sees: feature maps, receptive fields, the page (``vgg-gluon demo``)."""
